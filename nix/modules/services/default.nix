# Layer 5, services, each behind vps.services.<name>.enable: nginx with ACME (forceSSL),
# PostgreSQL with its data on its own ZFS dataset, and the Prometheus node exporter
# reachable only from the allowed networks.
{ config, lib, ... }:
let
  cfg = config.vps.services;
  inherit (lib)
    attrNames
    filter
    hasInfix
    mapAttrs
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  pgMount = "/var/lib/postgresql";
  # The rules that nix/lib/checks.nix applies to a host JSON as well.
  rules = import ../../lib/rules.nix;
  nginxRules = rules.nginx {
    inherit (cfg.nginx) enable acmeEmail;
    vhosts = lib.attrValues cfg.nginx.vhosts;
  };
  # Present only when the storage layer is imported too.
  datasets = config.vps.storage.pool.datasets or { };
  pgDataset = if cfg.postgresql.dataset == null then null else datasets.${cfg.postgresql.dataset} or null;

  ne = cfg.nodeExporter;
  v4Cidrs = filter (c: !(hasInfix ":" c)) ne.allowedCidrs;
  v6Cidrs = filter (c: hasInfix ":" c) ne.allowedCidrs;
in
{
  imports = [ ../common.nix ];

  options.vps.services = {
    nginx = {
      enable = mkEnableOption "nginx with ACME certificates (Let's Encrypt) for every virtual host";
      acmeEmail = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "hostmaster@example.org";
        description = "Account e-mail for Let's Encrypt.";
      };
      vhosts = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              aliases = mkOption {
                type = types.listOf types.str;
                default = [ ];
                example = [ "example.org" ];
                description = "Further names served by (and in the certificate of) this virtual host.";
              };
              root = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "/var/www/example.org";
                description = "Serve static files from this directory.";
              };
              proxyPass = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "http://127.0.0.1:3000";
                description = "Reverse-proxy to this URL instead.";
              };
            };
          }
        );
        default = { };
        example = {
          "www.example.org".root = "/var/www/example.org";
        };
        description = "Virtual hosts by domain; each gets an ACME certificate and redirects HTTP to HTTPS.";
      };
    };

    postgresql = {
      enable = mkEnableOption "PostgreSQL, with its data on its own ZFS dataset";
      dataset = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "safe/postgres";
        description = ''
          The dataset (relative to the pool, listed in vps.storage.pool.datasets and mounted
          at /var/lib/postgresql) that holds the data. The storage role creates it with
          recordsize=16k (the flake's lib.requiredDatasets says so).
        '';
      };
    };

    nodeExporter = {
      enable = mkEnableOption "the Prometheus node exporter";
      port = mkOption {
        type = types.port;
        default = 9100;
        example = 9100;
        description = "Port of the node exporter.";
      };
      allowedCidrs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "10.0.0.0/16" ];
        description = "The only source networks (IPv4 or IPv6 CIDR) that may reach the exporter. Empty: nowhere but the host itself.";
      };
    };
  };

  config = mkMerge [
    {
      assertions = [
        {
          assertion = !nginxRules.noAcmeEmail;
          message = "vps.services.nginx.enable needs vps.services.nginx.acmeEmail (the Let's Encrypt account).";
        }
        {
          assertion = !nginxRules.noVhosts;
          message = "vps.services.nginx.enable is set but vps.services.nginx.vhosts is empty.";
        }
        {
          assertion = !lib.any rules.badVhost (lib.attrValues cfg.nginx.vhosts);
          message = "vps.services.nginx.vhosts: set exactly one of root and proxyPass for ${
            toString (attrNames (lib.filterAttrs (_: rules.badVhost) cfg.nginx.vhosts))
          }.";
        }
        {
          assertion = !rules.postgresqlWithoutDataset { inherit (cfg.postgresql) enable dataset; };
          message = "vps.services.postgresql.enable needs vps.services.postgresql.dataset: its data lives on its own ZFS dataset.";
        }
        {
          assertion = !cfg.postgresql.enable || cfg.postgresql.dataset == null || pgDataset != null;
          message = "vps.services.postgresql.dataset ${toString cfg.postgresql.dataset} is not in vps.storage.pool.datasets; add it (mountpoint ${pgMount}) and let the storage role create it.";
        }
        {
          assertion = !cfg.postgresql.enable || pgDataset == null || pgDataset.mountpoint == pgMount;
          message = "vps.services.postgresql.dataset ${toString cfg.postgresql.dataset} must be mounted at ${pgMount}.";
        }
      ];
    }

    (mkIf cfg.nginx.enable {
      security.acme = {
        acceptTerms = true;
        defaults.email = cfg.nginx.acmeEmail;
      };
      services.nginx = {
        enable = true;
        recommendedTlsSettings = mkDefault true;
        recommendedOptimisation = mkDefault true;
        recommendedGzipSettings = mkDefault true;
        recommendedProxySettings = mkDefault true;
        virtualHosts = mapAttrs (
          _: v:
          {
            enableACME = true;
            forceSSL = true;
            serverAliases = v.aliases;
          }
          // lib.optionalAttrs (v.root != null) { root = v.root; }
          // lib.optionalAttrs (v.proxyPass != null) {
            locations."/".proxyPass = v.proxyPass;
          }
        ) cfg.nginx.vhosts;
      };
      networking.firewall.allowedTCPPorts = [
        80
        443
      ];
      # Certificates survive a rollback of / (Let's Encrypt rate-limits re-issuing).
      vps.persist.paths = [ "/var/lib/acme" ];
    })

    (mkIf cfg.postgresql.enable {
      services.postgresql = {
        enable = true;
        # ZFS writes whole records copy-on-write, so a torn 8k page cannot happen on
        # the 16k-recordsize dataset: full-page images in the WAL are dead weight.
        settings = {
          full_page_writes = mkDefault false;
        };
      };
      systemd.services.postgresql.unitConfig.RequiresMountsFor = [ pgMount ];
    })

    (mkIf ne.enable {
      services.prometheus.exporters.node = {
        enable = true;
        port = ne.port;
        # The wildcard of both families: node_exporter (Go) binds "[::]:port" as one
        # dual-stack socket, so the ip and the ip6 rule below can both match. The module's
        # default, 0.0.0.0, is IPv4 only, unreachable on an IPv6-only host.
        listenAddress = "[::]";
        openFirewall = false;
        enabledCollectors = mkDefault [ "systemd" ];
      };
      # Reachable only from the allowed networks (nftables, inside the NixOS firewall).
      networking.firewall.extraInputRules = lib.concatStringsSep "\n" (
        lib.optional (v4Cidrs != [ ]) "ip saddr { ${lib.concatStringsSep ", " v4Cidrs} } tcp dport ${toString ne.port} accept"
        ++ lib.optional (v6Cidrs != [ ]) "ip6 saddr { ${lib.concatStringsSep ", " v6Cidrs} } tcp dport ${toString ne.port} accept"
      );
    })
  ];
}
