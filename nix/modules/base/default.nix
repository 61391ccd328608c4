# Layer 3, base: the host's name and stateVersion, immutable users with the admins from
# the host JSON, Nix settings (flakes, only wheel may talk to the daemon, automatic GC and
# store optimisation), UTC, bounded journald and a bounded boot menu.
{ config, lib, ... }:
let
  cfg = config.vps.base;
  inherit (lib)
    attrNames
    filterAttrs
    mapAttrs
    mkDefault
    mkIf
    mkOption
    types
    ;
in
{
  imports = [ ../common.nix ];

  options.vps.base = {
    hostName = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "web-1";
      description = "networking.hostName. null: leave it to other modules.";
    };

    stateVersion = mkOption {
      type = types.nullOr (types.strMatching "[0-9]{2}\\.(05|11)");
      default = null;
      example = "25.05";
      description = "system.stateVersion: the NixOS release the host was first installed with. Never change it afterwards.";
    };

    admins = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.sshKeys = mkOption {
            type = types.listOf types.str;
            default = [ ];
            example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… alice@laptop" ];
            description = "The admin's SSH public keys (the only way to log in).";
          };
        }
      );
      default = { };
      example = {
        alice.sshKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… alice@laptop" ];
      };
      description = "Administrators: normal users in wheel that log in with SSH keys only.";
    };

    journald = {
      maxUse = mkOption {
        type = types.str;
        default = "1G";
        example = "500M";
        description = "journald SystemMaxUse: the most disk space the journal takes.";
      };
      maxRetention = mkOption {
        type = types.str;
        default = "1month";
        example = "2weeks";
        description = "journald MaxRetentionSec: entries older than this are removed.";
      };
    };

    bootEntries = mkOption {
      type = types.ints.positive;
      default = 10;
      example = 5;
      description = "How many generations the boot menu keeps (boot.loader.grub.configurationLimit); bounds the space used on the ESP.";
    };

    gc = {
      olderThan = mkOption {
        type = types.str;
        default = "14d";
        example = "30d";
        description = "The weekly garbage collection deletes generations older than this.";
      };
    };
  };

  config = {
    assertions = [
      {
        assertion = cfg.stateVersion != null;
        message = "vps.base.stateVersion is not set; set it to the NixOS release the host was installed with (e.g. \"25.05\").";
      }
      {
        assertion = cfg.admins != { };
        message = "vps.base.admins is empty: users are immutable and root cannot log in, so nobody could administer the host.";
      }
      {
        assertion = filterAttrs (_: a: a.sshKeys == [ ]) cfg.admins == { };
        message = "vps.base.admins: ${toString (attrNames (filterAttrs (_: a: a.sshKeys == [ ]) cfg.admins))} without an SSH key; every admin needs at least one.";
      }
      {
        # The rule that nix/lib/checks.nix applies to a host JSON as well.
        assertion = !(import ../../lib/rules.nix).rootIsAdmin (attrNames cfg.admins);
        message = "vps.base.admins: root cannot be an admin; list personal users (they get wheel).";
      }
    ];

    networking.hostName = mkIf (cfg.hostName != null) cfg.hostName;
    system.stateVersion = mkIf (cfg.stateVersion != null) cfg.stateVersion;

    # Users exist only as declared here; no password anywhere.
    users.mutableUsers = false;
    users.users =
      mapAttrs (_: a: {
        isNormalUser = true;
        extraGroups = [ "wheel" ];
        openssh.authorizedKeys.keys = a.sshKeys;
      }) cfg.admins
      // {
        root.hashedPassword = mkDefault "!";
      };

    nix.settings = {
      experimental-features = [
        "nix-command"
        "flakes"
      ];
      allowed-users = mkDefault [ "@wheel" ];
      trusted-users = mkDefault [ "root" ];
    };
    nix.gc = {
      automatic = mkDefault true;
      dates = mkDefault "weekly";
      options = mkDefault "--delete-older-than ${cfg.gc.olderThan}";
    };
    nix.optimise.automatic = mkDefault true;

    time.timeZone = mkDefault "UTC";
    services.journald.extraConfig = ''
      SystemMaxUse=${cfg.journald.maxUse}
      MaxRetentionSec=${cfg.journald.maxRetention}
    '';

    boot.loader.grub.configurationLimit = mkDefault cfg.bootEntries;
  };
}
