# Stands in for nixpkgs' nixos/modules/profiles/qemu-guest.nix, which nix/modules/hardware
# imports through modulesPath: the offline module tests have no NixOS modules, so this is
# empty and nothing that the real profile defines is asserted (see ../../eval.nix).
{ }
