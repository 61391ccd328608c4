{
  description = "nixos-hetzner: layered NixOS for Hetzner Cloud on LUKS2-encrypted ZFS, driven by per-host JSON";

  # A NixOS stable branch and nothing else. There is no flake.lock in the repository (it
  # cannot be made offline); `nix flake lock` in this directory creates it, see README.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # Builtins only: evaluates without nixpkgs (tests/nix runs it offline).
      vpsLib = import ./lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Every nix/hosts/<host>.json, validated (a bad file fails evaluation, naming the field).
      hosts = vpsLib.hostsFromDir { dir = ./hosts; };
    in
    {
      lib = vpsLib;

      # Attribute sets that import the files by path, so that the module system imports
      # each layer (and modules/common.nix) once however the user combines them.
      nixosModules = {
        hardware.imports = [ ./modules/hardware ];
        storage.imports = [ ./modules/storage ];
        base.imports = [ ./modules/base ];
        security.imports = [ ./modules/security ];
        services.imports = [ ./modules/services ];
        default = {
          imports = [
            ./modules/hardware
            ./modules/storage
            ./modules/base
            ./modules/security
            ./modules/services
          ];
        };
      };

      nixosConfigurations = builtins.mapAttrs (
        _: host:
        lib.nixosSystem {
          modules = [
            self.nixosModules.default
            (vpsLib.hostModule host)
          ];
        }
      ) hosts;

      checks = forAllSystems (
        pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          ofThisSystem = lib.filterAttrs (
            _: c: c.config.nixpkgs.hostPlatform.system == system
          ) self.nixosConfigurations;
        in
        # Evaluation of every host: forces the whole system derivation (all assertions,
        # every module) without building it.
        lib.mapAttrs' (
          name: c:
          lib.nameValuePair "eval-${name}" (
            pkgs.writeText "eval-${name}" (builtins.unsafeDiscardStringContext c.config.system.build.toplevel.drvPath)
          )
        ) ofThisSystem
        // lib.optionalAttrs (system == "x86_64-linux") {
          vm-example = import ./tests/vm.nix { inherit pkgs self; };
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
