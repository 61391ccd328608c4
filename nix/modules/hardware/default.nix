# Layer 1, hardware: a Hetzner Cloud VM. x86_64 (cx, cpx, ccx) boots BIOS, aarch64 (cax)
# boots EFI; GRUB is installed for both on a hybrid GPT (EF02 BIOS boot partition plus an
# ESP). virtio in the initrd, the VGA console (the Hetzner web console) as /dev/console with
# the serial console beside it, the QEMU guest agent, systemd-networkd with IPv4 by DHCP and
# the static IPv6 from the host JSON, resolvers for IPv6-only hosts, Hetzner's NTP servers.
{
  config,
  lib,
  modulesPath,
  ...
}:
let
  cfg = config.vps.hardware;
  inherit (lib)
    mkDefault
    mkIf
    mkOption
    optional
    types
    ;
  net = cfg.network;

  # Hetzner's recursive resolvers over IPv6 (as in the examples of
  # docs.hetzner.com/cloud/floating-ips/persistent-configuration). Used when there is no
  # DHCP to supply any.
  hetznerResolvers = [
    "2a01:4ff:ff00::add:1"
    "2a01:4ff:ff00::add:2"
  ];
  resolvers =
    if net.nameservers != null then
      net.nameservers
    else if net.ipv4.dhcp then
      [ ]
    else
      hetznerResolvers;

  # The kernel writes to every console= it is given, but /dev/console (where systemd's
  # password prompt and emergency shell go) is the LAST one. The Hetzner web console
  # shows the VGA screen, so the screen comes last and the serial port before it. On arm,
  # the firmware's default console is the serial port, so "tty" (the foreground virtual
  # terminal, as srvos' hetzner-cloud/arm.nix sets it) is always given.
  serialConsoleParam =
    if cfg.architecture == "x86_64" then "console=ttyS0,115200n8" else "console=ttyAMA0,115200n8";
  screenConsoleParam = if cfg.architecture == "x86_64" then "console=tty0" else "console=tty";

  # The uplink, used by the system's networkd and by the initrd's (remote unlock).
  uplink = {
    matchConfig.Name = net.interface;
    networkConfig = {
      DHCP = if net.ipv4.dhcp then "ipv4" else "no";
      # Hetzner does not announce the /64; the address and route are static.
      IPv6AcceptRA = false;
    };
    address = optional (net.ipv6.address != null) "${net.ipv6.address}/${toString net.ipv6.prefixLength}";
    routes = optional (net.ipv6.address != null) { Gateway = net.ipv6.gateway; };
    linkConfig.RequiredForOnline = "routable";
  }
  # Resolvers given explicitly replace the ones DHCP offers.
  // lib.optionalAttrs (net.ipv4.dhcp && net.nameservers != null) {
    dhcpV4Config.UseDNS = false;
  };
in
{
  imports = [
    ../common.nix
    (modulesPath + "/profiles/qemu-guest.nix")
  ];

  options.vps.hardware = {
    architecture = mkOption {
      type = types.enum [
        "x86_64"
        "aarch64"
      ];
      default = "x86_64";
      example = "aarch64";
      description = "CPU architecture of the server; sets nixpkgs.hostPlatform and the default boot mode.";
    };

    bootMode = mkOption {
      type = types.enum [
        "bios"
        "efi"
      ];
      default = if cfg.architecture == "x86_64" then "bios" else "efi";
      defaultText = lib.literalExpression ''if architecture == "x86_64" then "bios" else "efi"'';
      example = "efi";
      description = ''
        How the firmware starts GRUB. Hetzner Cloud x86 servers boot BIOS: GRUB goes to the
        EF02 partition of every disk (and, hybrid, also to the ESP as a removable EFI
        loader). Arm servers boot EFI: GRUB only on the ESP.
      '';
    };

    disks = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678" ];
      description = "The server's disks by id; GRUB's BIOS install targets.";
    };

    espDevice = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678-part2";
      description = "The EFI system partition (vfat), mounted at /boot.";
    };

    serialConsole = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        Kernel console on the serial port as well (ttyS0 on x86_64, ttyAMA0 on aarch64).
        Either way the screen (console=tty0, on arm console=tty) comes last on the kernel
        command line, so /dev/console, and with it the LUKS passphrase prompt, is the VGA
        screen that the Hetzner web console shows.
      '';
    };

    network = {
      interface = mkOption {
        type = types.str;
        default = "en*";
        example = "enp1s0";
        description = "systemd-networkd Match Name of the public interface (ens3 on x86, enp1s0 on arm).";
      };

      ipv4 = {
        dhcp = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Configure IPv4 by DHCP (Hetzner's way). false for IPv6-only servers.";
        };
        address = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "203.0.113.10";
          description = "The primary IPv4 (from the API). Used for /etc/hosts; the interface still gets it by DHCP.";
        };
      };

      ipv6 = {
        address = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "2001:db8:1234:5678::1";
          description = "Static IPv6 address (Hetzner routes a /64 to the server; by convention it takes ::1). null: no IPv6.";
        };
        prefixLength = mkOption {
          type = types.ints.between 1 128;
          default = 64;
          example = 64;
          description = "Prefix length of the IPv6 address.";
        };
        gateway = mkOption {
          type = types.str;
          default = "fe80::1";
          example = "fe80::1";
          description = "IPv6 default gateway; Hetzner's is the link-local fe80::1.";
        };
      };
    };

    network.nameservers = mkOption {
      type = types.nullOr (types.listOf types.str);
      default = null;
      example = [
        "2a01:4ff:ff00::add:1"
        "185.12.64.1"
      ];
      description = ''
        DNS resolvers (networking.nameservers). null: the ones DHCP offers when IPv4 DHCP
        is on; on an IPv6-only server (DHCP off, router advertisements ignored) Hetzner's
        recursive resolvers 2a01:4ff:ff00::add:1 and 2a01:4ff:ff00::add:2. A list replaces
        both (with DHCP on, the uplink then ignores DHCP's DNS servers).
      '';
    };

    ntpServers = mkOption {
      type = types.listOf types.str;
      default = [
        "ntp1.hetzner.de"
        "ntp2.hetzner.com"
        "ntp3.hetzner.net"
      ];
      example = [ "ntp1.hetzner.de" ];
      description = "NTP servers for systemd-timesyncd.";
    };
  };

  config = {
    assertions = [
      {
        assertion = cfg.bootMode == "efi" || cfg.disks != [ ];
        message = "vps.hardware.disks is empty: BIOS boot needs the disk(s) to install GRUB to.";
      }
      {
        assertion = cfg.espDevice != null;
        message = "vps.hardware.espDevice is not set: /boot lives on the EFI system partition.";
      }
      {
        assertion = net.ipv4.dhcp || net.ipv6.address != null;
        message = "vps.hardware.network: no IPv4 (DHCP off) and no IPv6 address; the server would be unreachable.";
      }
    ];

    nixpkgs.hostPlatform = mkDefault "${cfg.architecture}-linux";

    boot.initrd.availableKernelModules = [
      "virtio_pci"
      "virtio_scsi"
      "virtio_net"
      "virtio_blk"
      "sd_mod"
      "sr_mod"
    ];
    # The display driver in the initrd, so that the passphrase prompt is on the screen
    # before stage 2 (srvos hardware/hetzner-cloud/arm.nix does the same).
    boot.initrd.kernelModules = optional (cfg.architecture == "aarch64") "virtio_gpu";
    # The screen last, after anything else defined at normal order (see screenConsoleParam).
    boot.kernelParams = lib.mkMerge [
      (optional cfg.serialConsole serialConsoleParam)
      (lib.mkAfter [ screenConsoleParam ])
    ];

    # Hetzner's password reset and the agent-based API features need the QEMU guest agent.
    services.qemuGuest.enable = mkDefault true;

    boot.loader.grub = {
      enable = mkDefault true;
      efiSupport = mkDefault true;
      # Hetzner gives no NVRAM to write boot entries to: install to the fallback path.
      efiInstallAsRemovable = mkDefault true;
      # Normal priority: grub.nix itself defines devices (from boot.loader.grub.device,
      # [ ] when that is unset) at normal priority, which would beat a mkDefault and leave
      # no install target. List definitions of equal priority are concatenated.
      devices = if cfg.bootMode == "bios" then cfg.disks else [ "nodev" ];
    };
    boot.loader.efi.canTouchEfiVariables = mkDefault false;

    fileSystems."/boot" = mkIf (cfg.espDevice != null) {
      device = cfg.espDevice;
      fsType = "vfat";
      options = [
        "fmask=0077"
        "dmask=0077"
      ];
    };

    networking.useNetworkd = mkDefault true;
    networking.useDHCP = mkDefault false;
    systemd.network.enable = mkDefault true;
    systemd.network.networks."10-uplink" = uplink;
    # Used when the initrd has networking (remote unlock, storage layer).
    boot.initrd.systemd.network.networks."10-uplink" = uplink;

    networking.hosts =
      let
        names = [ config.networking.hostName ];
      in
      lib.mkMerge [
        (mkIf (net.ipv4.address != null) { ${net.ipv4.address} = names; })
        (mkIf (net.ipv6.address != null) { ${net.ipv6.address} = names; })
      ];

    # Empty (the default with DHCP) defines nothing, so DHCP's resolvers stay in charge.
    networking.nameservers = resolvers;

    networking.timeServers = mkDefault cfg.ntpServers;
    services.timesyncd.enable = mkDefault true;
  };
}
