# Layer 2, storage: LUKS2 opened in a systemd initrd, a ZFS pool on top with
# legacy-mountpoint datasets in fileSystems, scrub, trim, optional auto-snapshots, the ARC
# sized to the server, an optional rollback of / to a blank snapshot, and remote unlock
# over SSH in the initrd with the initrd's own host key.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.vps.storage;
  inherit (lib)
    attrNames
    filterAttrs
    mapAttrs'
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    nameValuePair
    optional
    types
    ;

  # The rules that nix/lib/checks.nix applies to a host JSON as well.
  rules = import ../../lib/rules.nix;
  datasetAt = mp: attrNames (filterAttrs (_: d: d.mountpoint == mp) cfg.pool.datasets);
  rootDatasets = datasetAt "/";
  rollback = rules.rollback {
    inherit (cfg.rollback) enable snapshot;
    rootDataset = if rootDatasets == [ ] then null else "${cfg.pool.name}/${lib.head rootDatasets}";
    persist = datasetAt "/persist" != [ ];
  };
  unlock = rules.initrdUnlock { inherit (cfg.initrdUnlock) enable authorizedKeys hostKeyPath; };

  zfsKernelModule = config.boot.kernelPackages.${config.boot.zfs.package.kernelModuleAttribute};

  # systemd's unit_name_escape() for the characters a mapper name may have here ("-" is
  # the only one of [A-Za-z0-9_-] it escapes): systemd-cryptsetup-generator names the unit
  # of the crypttab line <name> systemd-cryptsetup@<escaped name>.service.
  cryptsetupUnit = name: "systemd-cryptsetup@${lib.replaceStrings [ "-" ] [ "\\x2d" ] name}.service";
  luksUnits = optional cfg.luks.enable (cryptsetupUnit cfg.luks.name);
  sshPorts = config.services.openssh.ports;
in
{
  imports = [ ../common.nix ];

  options.vps.storage = {
    hostId = mkOption {
      type = types.nullOr (types.strMatching "[0-9a-f]{8}");
      default = null;
      example = "8425e349";
      description = "networking.hostId, which ZFS uses to tell its own pools from foreign ones. Keep it stable for the host's life.";
    };

    luks = {
      enable = mkOption {
        type = types.bool;
        default = true;
        example = false;
        description = "Open the pool's LUKS2 container in the initrd. Turning it off means the data is stored unencrypted.";
      };
      name = mkOption {
        type = types.strMatching "[A-Za-z0-9_-]{1,64}";
        default = "cryptroot";
        example = "cryptroot";
        description = "Mapper name: the container is opened as /dev/mapper/<name> by systemd-cryptsetup@<name>.service (a - in the name is \\x2d in the unit's name).";
      };
      device = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678-part3";
        description = "The LUKS2 partition, by id.";
      };
    };

    pool = {
      name = mkOption {
        type = types.str;
        default = "rpool";
        example = "tank";
        description = "The ZFS pool on the LUKS container.";
      };
      datasets = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.mountpoint = mkOption {
              type = types.str;
              example = "/home";
              description = "Where the dataset (mountpoint=legacy) is mounted.";
            };
          }
        );
        default = { };
        example = {
          "local/root".mountpoint = "/";
          "local/nix".mountpoint = "/nix";
          "safe/home".mountpoint = "/home";
        };
        description = "Datasets relative to the pool, with mountpoint=legacy, mounted through fileSystems.";
      };
    };

    datasetFileSystems = mkOption {
      type = types.attrsOf types.attrs;
      internal = true;
      readOnly = true;
      default = mapAttrs' (
        name: ds:
        nameValuePair ds.mountpoint {
          device = "${cfg.pool.name}/${name}";
          fsType = "zfs";
          # /persist holds what the initrd and early boot need after a rollback.
          neededForBoot = ds.mountpoint == "/persist";
        }
      ) cfg.pool.datasets;
      defaultText = lib.literalMD "one `fileSystems` entry per dataset in `pool.datasets`";
      example = {
        "/home" = {
          device = "rpool/safe/home";
          fsType = "zfs";
          neededForBoot = false;
        };
      };
      description = "The fileSystems entries made from pool.datasets (legacy mountpoints). Read-only; the VM test mounts them.";
    };

    arcMaxBytes = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 1073741824;
      description = "ZFS ARC maximum in bytes (zfs.zfs_arc_max). The host JSON derives it from the server's memory (a quarter, at least 256 MiB). null: the ZFS default (half of RAM).";
    };

    autoScrub = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = "Scrub the pools periodically.";
    };

    trim = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = "TRIM the pools periodically (the LUKS container passes discards through).";
    };

    autoSnapshot = mkEnableOption "ZFS auto-snapshots (frequent to monthly) of the datasets that have com.sun:auto-snapshot=true";

    rollback = {
      enable = mkEnableOption "rolling the root dataset back to a blank snapshot at every boot (\"erase your darlings\"); state that must survive lives under /persist";
      snapshot = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "rpool/local/root@blank";
        description = "The full name of the blank snapshot of the root dataset.";
      };
    };

    initrdUnlock = {
      enable = mkEnableOption "remote unlock: OpenSSH in the systemd initrd, to give the LUKS passphrase after a reboot";
      port = mkOption {
        type = types.port;
        default = 2222;
        example = 2222;
        description = "Port of the initrd's sshd. Not the system's, so that clients keep the two host keys apart.";
      };
      authorizedKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… unlock@example" ];
        description = "Public keys allowed to log in to the initrd (as root) to unlock.";
      };
      hostKeyPath = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/persist/etc/secrets/initrd/ssh_host_ed25519_key";
        description = ''
          Path on the target of the initrd's private host key. It is a string, not a Nix
          path, so the key never enters the Nix store: the boot loader installer copies it
          into the initrd as an initrd secret. It must exist before the first
          nixos-install / nixos-rebuild (the base role generates it).
        '';
      };
    };
  };

  config = mkMerge [
    {
      assertions = [
        {
          assertion = cfg.hostId != null;
          message = "vps.storage.hostId is not set; ZFS needs a stable networking.hostId (8 hex digits).";
        }
        {
          assertion = !cfg.luks.enable || cfg.luks.device != null;
          message = "vps.storage.luks.device is not set; set it to the LUKS2 partition by id (or set vps.storage.luks.enable = false to store data unencrypted).";
        }
        {
          assertion = !rules.noRootDataset (lib.mapAttrsToList (_: d: d.mountpoint) cfg.pool.datasets);
          message = "vps.storage.pool.datasets: no dataset is mounted at /.";
        }
        {
          assertion = !rollback.noSnapshot;
          message = "vps.storage.rollback.enable needs vps.storage.rollback.snapshot (e.g. \"${cfg.pool.name}/local/root@blank\").";
        }
        {
          assertion = !rollback.notOfRootDataset;
          message = "vps.storage.rollback.snapshot ${toString cfg.rollback.snapshot} is not a snapshot of the root dataset.";
        }
        {
          assertion = !rollback.noPersist;
          message = "vps.storage.rollback.enable: rolling back / needs a dataset mounted at /persist.";
        }
        {
          assertion = !unlock.noHostKey;
          message = "vps.storage.initrdUnlock.enable needs vps.storage.initrdUnlock.hostKeyPath: the initrd needs its own SSH host key.";
        }
        {
          assertion = !unlock.hostKeyInStore;
          message = "vps.storage.initrdUnlock.hostKeyPath is in the Nix store, which is world-readable; keep the key outside it.";
        }
        {
          assertion =
            !cfg.initrdUnlock.enable
            || !(lib.elem cfg.initrdUnlock.hostKeyPath (map (k: k.path) config.services.openssh.hostKeys));
          message = "vps.storage.initrdUnlock.hostKeyPath is one of the system sshd's host keys; the initrd needs its own (it sits unencrypted on /boot).";
        }
        {
          assertion = !unlock.noAuthorizedKeys;
          message = "vps.storage.initrdUnlock.authorizedKeys is empty; nobody could unlock the disk.";
        }
        {
          assertion = !cfg.initrdUnlock.enable || !(lib.elem cfg.initrdUnlock.port sshPorts);
          message = "vps.storage.initrdUnlock.port ${toString cfg.initrdUnlock.port} is also the system sshd's port; use another one.";
        }
        {
          assertion = !(zfsKernelModule.meta.broken or false);
          message = "boot.kernelPackages (${config.boot.kernelPackages.kernel.version}) is not supported by ${config.boot.zfs.package.name}; use a kernel that ZFS supports (the default pkgs.linuxPackages is).";
        }
      ];

      # ZFS. The default kernel (LTS) is the one nixpkgs keeps ZFS working with.
      boot.kernelPackages = mkDefault pkgs.linuxPackages;
      boot.supportedFilesystems.zfs = true;
      boot.initrd.supportedFilesystems.zfs = true;
      networking.hostId = cfg.hostId;
      boot.zfs.forceImportRoot = false;
      boot.zfs.devNodes = mkDefault "/dev/disk/by-id";
      boot.kernelParams = optional (cfg.arcMaxBytes != null) "zfs.zfs_arc_max=${toString cfg.arcMaxBytes}";
      services.zfs.autoScrub.enable = mkDefault cfg.autoScrub;
      services.zfs.trim.enable = mkDefault cfg.trim;
      services.zfs.autoSnapshot.enable = mkDefault cfg.autoSnapshot;

      fileSystems = cfg.datasetFileSystems;

      # A systemd initrd: LUKS, the ZFS import, the rollback and the unlock sshd are units.
      boot.initrd.systemd.enable = mkDefault true;
    }

    (mkIf cfg.luks.enable {
      boot.initrd.luks.devices.${cfg.luks.name} = {
        device = cfg.luks.device;
        allowDiscards = true;
        bypassWorkqueues = true;
      };
    })

    # In the systemd initrd, zfs.nix orders zfs-import-<pool>.service only after udev-settle,
    # modules-load and ask-password-console; the import then polls for the pool's vdevs
    # for about a minute and fails, and the /sysroot mounts that require it fail with it,
    # when the passphrase comes later (a manual unlock over SSH after a reboot). Wait for
    # the container instead (nixpkgs issue #250003). The scripted initrd opens LUKS before
    # it imports pools and needs nothing here.
    (mkIf (cfg.luks.enable && config.boot.initrd.systemd.enable) {
      boot.initrd.systemd.services."zfs-import-${cfg.pool.name}" = {
        wants = luksUnits ++ [ "cryptsetup.target" ];
        after = luksUnits ++ [ "cryptsetup.target" ];
      };
    })

    (mkIf cfg.rollback.enable {
      vps.persist.directory = mkDefault "/persist";
      vps.persist.paths = [
        "/var/lib/nixos"
        "/var/lib/systemd"
        "/var/log"
      ];
      boot.initrd.systemd.initrdBin = [ config.boot.zfs.package ];
      boot.initrd.systemd.services.vps-rollback-root = {
        description = "Roll the root dataset back to ${cfg.rollback.snapshot}";
        wantedBy = [ "initrd.target" ];
        after = [ "zfs-import-${cfg.pool.name}.service" ];
        before = [ "sysroot.mount" ];
        unitConfig.DefaultDependencies = "no";
        serviceConfig.Type = "oneshot";
        script = "zfs rollback -r -- ${lib.escapeShellArg cfg.rollback.snapshot}";
      };
    })

    (mkIf (config.vps.persist.directory != null) {
      # A rolled-back / has no /etc/machine-id, so systemd would make a new one at every
      # boot (a new journal directory, a new DHCP DUID). The link points below the
      # persistent directory, which the initrd mounts (neededForBoot); at the first boot
      # systemd writes the new id through it, provided <persist>/etc exists.
      environment.etc."machine-id".source = "${config.vps.persist.directory}/etc/machine-id";

      fileSystems = lib.listToAttrs (
        map (
          p:
          nameValuePair p {
            device = "${config.vps.persist.directory}${p}";
            fsType = "none";
            options = [ "bind" ];
            depends = [ config.vps.persist.directory ];
            # The activation script writes /var/lib/nixos (the uid/gid map) before
            # stage 2 mounts anything; the systemd initrd mounts these under /sysroot.
            neededForBoot = p == "/var/lib/nixos" || p == "/var/log";
          }
        ) config.vps.persist.paths
      );
    })

    (mkIf cfg.initrdUnlock.enable {
      boot.initrd.network.enable = true;
      boot.initrd.systemd.network.enable = true;
      boot.initrd.network.ssh = {
        enable = true;
        port = cfg.initrdUnlock.port;
        hostKeys = [ cfg.initrdUnlock.hostKeyPath ];
        authorizedKeys = cfg.initrdUnlock.authorizedKeys;
      };
    })
  ];
}
