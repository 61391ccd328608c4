# Layer 4, security: OpenSSH key-only with modern algorithms, an nftables firewall that
# denies by default and opens only SSH, the enabled services' ports and the host JSON's
# extras, fail2ban, the safe subset of the hardened profile's sysctls, sudo for wheel only,
# and automatic upgrades as an opt-in. Everything insecure is an explicit opt-in under
# vps.security.insecure.
{ config, lib, ... }:
let
  cfg = config.vps.security;
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;
  persist = config.vps.persist.directory;
  # Where the system's SSH host key lives: the persisted directory, else a dataset mounted
  # at /persist (the storage layer's layout), else /etc.
  persistDataset = lib.any (d: d.mountpoint or null == "/persist") (
    lib.attrValues (lib.attrByPath [ "vps" "storage" "pool" "datasets" ] { } config)
  );
  keyDir =
    if persist != null then
      persist
    else if persistDataset then
      "/persist"
    else
      "";
  opinion = lib.mkOverride 900;
in
{
  imports = [ ../common.nix ];

  options.vps.security = {
    ssh = {
      port = mkOption {
        type = types.port;
        default = 22;
        example = 22;
        description = "Port of the system's sshd (opened in the firewall).";
      };
      permitRootLogin = mkOption {
        type = types.enum [
          "no"
          "prohibit-password"
        ];
        default = "no";
        example = "prohibit-password";
        description = "Root login over SSH: off, or with a key only. Password logins for root are never allowed.";
      };
      maxAuthTries = mkOption {
        type = types.ints.positive;
        default = 3;
        example = 3;
        description = "sshd MaxAuthTries.";
      };
      loginGraceTime = mkOption {
        type = types.ints.positive;
        default = 30;
        example = 30;
        description = "sshd LoginGraceTime in seconds.";
      };
    };

    firewall = {
      extraTcpPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
        example = [ 8443 ];
        description = "TCP ports opened to everyone in addition to SSH and the enabled services' ports.";
      };
      extraUdpPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
        example = [ 51820 ];
        description = "UDP ports opened to everyone.";
      };
    };

    fail2ban.enable = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = "Ban addresses that keep failing SSH authentication (fail2ban with the nftables backend).";
    };

    autoUpgrade = {
      enable = mkEnableOption "automatic upgrades from a flake (system.autoUpgrade)";
      flake = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "github:example/fleet#web-1";
        description = "The flake reference to upgrade from.";
      };
      allowReboot = mkEnableOption "rebooting after an upgrade that changed the kernel or initrd (a LUKS host then waits for its passphrase)";
    };

    insecure = {
      passwordAuthentication = mkEnableOption "password and keyboard-interactive logins over SSH (INSECURE)";
      sudoWithoutExecWheelOnly = mkEnableOption "letting sudo run for users outside wheel (turns execWheelOnly off; INSECURE)";
    };
  };

  config = mkMerge [
    {
      assertions = [
        {
          assertion = !cfg.autoUpgrade.enable || cfg.autoUpgrade.flake != null;
          message = "vps.security.autoUpgrade.enable needs vps.security.autoUpgrade.flake (where to upgrade from).";
        }
        {
          assertion = config.networking.firewall.enable;
          message = "The vps security layer requires networking.firewall.enable = true.";
        }
      ];

      services.openssh = {
        enable = true;
        ports = [ cfg.ssh.port ];
        # The firewall is configured below, from one place.
        openFirewall = false;
        # The base role generates this key on the controller (where it is pinned) and puts
        # it on the /persist dataset before the first boot (base_ssh_host_key_path).
        hostKeys = mkDefault [
          {
            path = "${keyDir}/etc/ssh/ssh_host_ed25519_key";
            type = "ed25519";
          }
        ];
        settings = {
          PasswordAuthentication = cfg.insecure.passwordAuthentication;
          KbdInteractiveAuthentication = cfg.insecure.passwordAuthentication;
          PermitRootLogin = cfg.ssh.permitRootLogin;
          X11Forwarding = false;
          MaxAuthTries = cfg.ssh.maxAuthTries;
          LoginGraceTime = cfg.ssh.loginGraceTime;
          KexAlgorithms = mkDefault [
            "sntrup761x25519-sha512@openssh.com"
            "curve25519-sha256"
            "curve25519-sha256@libssh.org"
          ];
          Ciphers = mkDefault [
            "chacha20-poly1305@openssh.com"
            "aes256-gcm@openssh.com"
            "aes128-gcm@openssh.com"
          ];
          Macs = mkDefault [
            "hmac-sha2-512-etm@openssh.com"
            "hmac-sha2-256-etm@openssh.com"
            "umac-128-etm@openssh.com"
          ];
        };
      };

      # Default deny; only what is listed here (and by the services layer) is open.
      networking.nftables.enable = true;
      networking.firewall = {
        enable = true;
        allowPing = mkDefault true;
        logRefusedConnections = mkDefault false;
        allowedTCPPorts = [ cfg.ssh.port ] ++ cfg.firewall.extraTcpPorts;
        allowedUDPPorts = cfg.firewall.extraUdpPorts;
      };

      services.fail2ban = mkIf cfg.fail2ban.enable {
        enable = true;
        maxretry = mkDefault 5;
        bantime = mkDefault "1h";
        bantime-increment.enable = mkDefault true;
      };

      # Admins have keys and no passwords: sudo without one, but only for wheel.
      security.sudo.enable = mkDefault true;
      security.sudo.execWheelOnly = !cfg.insecure.sudoWithoutExecWheelOnly;
      security.sudo.wheelNeedsPassword = mkDefault false;

      # The safe subset of profiles/hardened.nix: nothing here breaks a normal server.
      # NixOS sets some of these keys itself with mkDefault (kernel.kptr_restrict = 1), so
      # ours have priority 900: above those defaults, below any plain definition.
      boot.kernel.sysctl = {
        "kernel.kptr_restrict" = opinion 2;
        "kernel.dmesg_restrict" = opinion 1;
        "kernel.unprivileged_bpf_disabled" = opinion 1;
        "kernel.yama.ptrace_scope" = opinion 1;
        "kernel.kexec_load_disabled" = opinion 1;
        "net.core.bpf_jit_harden" = opinion 2;
        "kernel.sysrq" = opinion 0;
        "fs.protected_fifos" = opinion 2;
        "fs.protected_regular" = opinion 2;
        "fs.suid_dumpable" = opinion 0;
        "net.ipv4.conf.all.log_martians" = opinion true;
        "net.ipv4.conf.all.rp_filter" = opinion "1";
        "net.ipv4.conf.default.log_martians" = opinion true;
        "net.ipv4.conf.default.rp_filter" = opinion "1";
        "net.ipv4.icmp_echo_ignore_broadcasts" = opinion true;
        "net.ipv4.conf.all.accept_redirects" = opinion false;
        "net.ipv4.conf.all.secure_redirects" = opinion false;
        "net.ipv4.conf.default.accept_redirects" = opinion false;
        "net.ipv4.conf.default.secure_redirects" = opinion false;
        "net.ipv6.conf.all.accept_redirects" = opinion false;
        "net.ipv6.conf.default.accept_redirects" = opinion false;
        "net.ipv4.conf.all.send_redirects" = opinion false;
        "net.ipv4.conf.default.send_redirects" = opinion false;
        "net.ipv4.tcp_syncookies" = opinion true;
      };
    }

    (mkIf cfg.autoUpgrade.enable {
      system.autoUpgrade = {
        enable = true;
        flake = cfg.autoUpgrade.flake;
        allowReboot = cfg.autoUpgrade.allowReboot;
        dates = mkDefault "04:00";
        randomizedDelaySec = mkDefault "45min";
      };
    })
  ];
}
