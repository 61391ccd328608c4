"""pytest fixtures for tests/nix; the code lives in nix_helpers.py."""
from nix_helpers import example, nix, schema, write_host  # noqa: F401
