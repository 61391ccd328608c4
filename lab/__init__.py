"""The nixos-hetzner lab: a Hetzner Cloud API emulator and its server backends."""
