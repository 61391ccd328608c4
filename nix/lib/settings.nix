# The host JSON (already validated) -> the value of the `vps` option tree that the modules
# in nix/modules declare. Builtins only.
#
# This file is the flake's only reader of host data. It deliberately reads every required
# field with plain attribute selection (no `or` defaults): a field that the schema does not
# declare is then an evaluation error, never a silent default. The schema's only optional
# field, network.nameservers, is read with a `?` test that maps its absence to null (the
# modules' "default resolvers"). tests/nix checks both directions (every schema field
# changes this output; the `?` tests here are exactly the schema's optional fields).
let
  inherit (builtins) listToAttrs map;

  # The ZFS ARC maximum for a server with memoryMiB of RAM: a quarter of memory, at least
  # 256 MiB, in bytes (the unit of the zfs.zfs_arc_max module parameter).
  arcMaxBytes =
    memoryMiB:
    let
      quarter = memoryMiB / 4;
    in
    (if quarter < 256 then 256 else quarter) * 1024 * 1024;

  settings =
    host:
    let
      st = host.storage;
      net = host.network;
      unlock = host.initrdUnlock;
      svc = host.services;
    in
    {
      hardware = {
        architecture = host.architecture;
        disks = st.disks;
        espDevice = st.espDevice;
        network = {
          nameservers = if net ? nameservers then net.nameservers else null;
          ipv4 = {
            dhcp = net.ipv4 != null;
            address = if net.ipv4 == null then null else net.ipv4.address;
          };
          ipv6 =
            if net.ipv6 == null then
              {
                address = null;
              }
            else
              {
                address = net.ipv6.address;
                prefixLength = net.ipv6.prefixLength;
                gateway = net.ipv6.gateway;
              };
        };
      };

      storage = {
        hostId = host.hostId;
        luks = {
          name = st.luks.name;
          device = st.luks.device;
        };
        pool = {
          name = st.pool.name;
          datasets = listToAttrs (
            map (d: {
              name = d.name;
              value = {
                mountpoint = d.mountpoint;
              };
            }) st.pool.datasets
          );
        };
        arcMaxBytes = arcMaxBytes host.memoryMiB;
        autoSnapshot = st.autoSnapshot;
        rollback = {
          enable = st.rollback.enable;
          snapshot = if st.rollback.snapshot == null then null else "${st.pool.name}/${st.rollback.snapshot}";
        };
        initrdUnlock = {
          enable = unlock.enable;
          port = unlock.port;
          authorizedKeys = unlock.authorizedKeys;
          hostKeyPath = unlock.hostKeyPath;
        };
      };

      base = {
        hostName = host.hostname;
        stateVersion = host.stateVersion;
        admins = listToAttrs (
          map (a: {
            name = a.name;
            value = {
              sshKeys = a.sshKeys;
            };
          }) host.admins
        );
      };

      security.firewall = {
        extraTcpPorts = host.firewall.extraTcpPorts;
        extraUdpPorts = host.firewall.extraUdpPorts;
      };

      services = {
        nginx = {
          enable = svc.nginx.enable;
          acmeEmail = svc.nginx.acmeEmail;
          vhosts = listToAttrs (
            map (v: {
              name = v.domain;
              value = {
                aliases = v.aliases;
                root = v.root;
                proxyPass = v.proxyPass;
              };
            }) svc.nginx.vhosts
          );
        };
        postgresql = {
          enable = svc.postgresql.enable;
          dataset = svc.postgresql.dataset;
        };
        nodeExporter = {
          enable = svc.nodeExporter.enable;
          allowedCidrs = svc.nodeExporter.allowedCidrs;
        };
      };
    };
in
{
  inherit arcMaxBytes settings;
}
