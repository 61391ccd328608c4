"""pytest fixtures for tests/nix; the code lives in nix_helpers.py."""
from nix_helpers import example, nix, nixpkgs_lib, schema, write_host  # noqa: F401
