# NixOS VM test (checks.x86_64-linux.vm-example): boots the example host from
# nix/hosts/example.json with all five layers and checks sshd, the firewall and the ZFS
# mounts. Needs nixpkgs, so it runs where Nix has network (and ideally KVM):
#   nix build ./nix#checks.x86_64-linux.vm-example -L
#
# What differs from a real Hetzner host, and why:
# - the test driver boots the kernel directly from its own root disk, so GRUB, the LUKS
#   container, the initrd unlock and the root rollback are switched off here; they are
#   only evaluated (checks.<system>.eval-example), since booting them needs an installed
#   disk;
# - the pool lives on an extra virtio disk that has no serial number, hence no
#   /dev/disk/by-id link: ZFS imports it from /dev;
# - the pool does not exist on the first boot (on a real host the storage role creates
#   it before NixOS is installed); the test creates it, exports it and reboots, and
#   checks the mounts on the second boot. The dataset mounts are `nofail` only so that
#   the first boot, without a pool, reaches multi-user;
# - nginx is off: its ACME units would try to reach Let's Encrypt.
{ pkgs, self }:
let
  host = self.lib.readHost "nix/hosts/example.json" ../hosts/example.json;
  settings = self.lib.settings host;
  keys = import (pkgs.path + "/nixos/tests/ssh-keys.nix") pkgs;
  pool = settings.storage.pool.name;
  # Everything but / and /nix, which the test driver provides.
  testDatasets = pkgs.lib.filterAttrs (
    _: d: d.mountpoint != "/" && d.mountpoint != "/nix"
  ) settings.storage.pool.datasets;
  required = self.lib.requiredDatasets host;
  createDataset =
    name:
    let
      props = (required.${name} or { properties = { }; }).properties;
      opts = pkgs.lib.concatStringsSep " " (pkgs.lib.mapAttrsToList (k: v: "-o ${k}=${v}") props);
    in
    "zfs create -p -o mountpoint=legacy ${opts} ${pool}/${name}";
in
pkgs.testers.runNixOSTest {
  name = "vps-example";

  nodes = {
    allowed =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.netcat ];
      };
    denied =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.netcat ];
      };

    example =
      {
        config,
        lib,
        nodes,
        ...
      }:
      {
        imports = [
          self.nixosModules.default
          (self.lib.hostModule host)
        ];

        vps.storage.luks.enable = lib.mkForce false;
        vps.storage.initrdUnlock.enable = lib.mkForce false;
        vps.storage.rollback.enable = lib.mkForce false;
        vps.services.nginx.enable = lib.mkForce false;
        vps.base.admins = lib.mkForce { alice.sshKeys = [ keys.snakeOilPublicKey ]; };
        vps.services.nodeExporter.allowedCidrs = lib.mkForce [
          "${nodes.allowed.networking.primaryIPAddress}/32"
        ];
        boot.zfs.devNodes = lib.mkForce "/dev";

        virtualisation.memorySize = 2048;
        virtualisation.emptyDiskImages = [ 2048 ];
        virtualisation.fileSystems = lib.mapAttrs (
          _: fs:
          fs
          // {
            neededForBoot = false;
            options = [ "nofail" ];
          }
        ) (lib.filterAttrs (mp: _: mp != "/" && mp != "/nix") config.vps.storage.datasetFileSystems);
      };
  };

  testScript =
    { nodes, ... }:
    let
      ip = nodes.example.networking.primaryIPAddress;
      inherit (pkgs.lib) concatMapStrings concatStrings mapAttrsToList;
      # Python lines with explicit indentation (inside `with` blocks).
      createDatasets = concatMapStrings (
        n: "    example.succeed(${builtins.toJSON (createDataset n)})\n"
      ) (builtins.attrNames testDatasets);
      checkMounts = concatStrings (
        mapAttrsToList (
          n: d:
          "    out = example.succeed(\"findmnt -n -o FSTYPE,SOURCE --mountpoint ${d.mountpoint}\").split()\n"
          + "    assert out == [\"zfs\", \"${pool}/${n}\"], f\"${d.mountpoint}: {out}\"\n"
        ) testDatasets
      );
      pgDataset = "${pool}/${host.services.postgresql.dataset}";
    in
    ''
      import shlex

      start_all()
      example.wait_for_unit("multi-user.target")

      with subtest("the storage role's pool and datasets (the first boot has none)"):
          example.succeed("zpool create -o ashift=12 -O canmount=off -O mountpoint=none ${pool} /dev/vdb")
      ${createDatasets}
          example.succeed("zpool export ${pool}")
          example.shutdown()
          example.start()
          example.wait_for_unit("multi-user.target")

      with subtest("ZFS datasets are imported and mounted from the host JSON"):
      ${checkMounts}
          assert example.succeed("zfs get -H -o value recordsize ${pgDataset}").strip() == "16K"
          assert example.succeed("cat /sys/module/zfs/parameters/zfs_arc_max").strip() == "${toString settings.storage.arcMaxBytes}"
          assert example.succeed("hostname").strip() == "${host.hostname}"

      with subtest("PostgreSQL keeps its data on its dataset"):
          example.wait_for_unit("postgresql.service")
          example.succeed("runuser -u postgres -- psql -tAc 'select 1' | grep -x 1")
          datadir = example.succeed("runuser -u postgres -- psql -tAc 'show data_directory'").strip()
          source = example.succeed(f"findmnt -n -o SOURCE --target {shlex.quote(datadir)}").strip()
          assert source == "${pgDataset}", source

      with subtest("sshd: key-only, modern algorithms"):
          example.wait_for_unit("sshd.service")
          cfg = example.succeed("sshd -T").splitlines()
          for line in ["passwordauthentication no", "kbdinteractiveauthentication no",
                       "permitrootlogin no", "maxauthtries 3", "logingracetime 30",
                       "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com"]:
              assert line in cfg, f"sshd -T lacks {line!r}"
          allowed.succeed("cp ${keys.snakeOilPrivateKey} /tmp/key && chmod 600 /tmp/key")
          allowed.succeed("ssh -i /tmp/key -o StrictHostKeyChecking=no -o BatchMode=yes alice@${ip} 'sudo -n true'")
          allowed.fail("ssh -i /tmp/key -o StrictHostKeyChecking=no -o BatchMode=yes root@${ip} true")

      with subtest("firewall: SSH for all, the node exporter only for allowed sources"):
          example.wait_for_unit("prometheus-node-exporter.service")
          example.wait_for_open_port(9100)
          allowed.succeed("nc -z -w 5 ${ip} 22")
          denied.succeed("nc -z -w 5 ${ip} 22")
          allowed.succeed("nc -z -w 5 ${ip} 9100")
          denied.fail("nc -z -w 5 ${ip} 9100")
          # PostgreSQL listens on localhost only and its port is not opened.
          allowed.fail("nc -z -w 5 ${ip} 5432")
          example.succeed("nft list ruleset | grep -q 'tcp dport 9100 accept'")
    '';
}
