"""Helpers and fixtures for the Nix tests: run Debian's nix-instantiate (2.8) offline and
self-contained. (A uniquely named module, imported by tests/nix/conftest.py and by the
test modules: several conftest.py files exist in tests/.)

nix-instantiate is run with a throw-away state, config and cache directory and with the
`dummy://` store, so it never touches /nix (nothing is created there, nothing is
needed from there) and never tries the network. The Nix code under test is builtins-only
(nix/lib); nixpkgs is never fetched and never faked.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIX_DIR = ROOT / "nix"
LIB = NIX_DIR / "lib"
SCHEMA_FILE = NIX_DIR / "schema" / "host.schema.json"
EXAMPLE_FILE = NIX_DIR / "hosts" / "example.json"

SCHEMA = json.loads(SCHEMA_FILE.read_text())


def resolve(node):
    """A schema node with its ``$ref`` (into ``$defs``) merged in."""
    if "$ref" in node:
        target = SCHEMA["$defs"][node["$ref"].split("/")[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def types_of(node):
    """The JSON types a schema node allows, as a set (empty when it names none)."""
    t = node.get("type")
    if t is None:
        return set()
    return set(t) if isinstance(t, list) else {t}


# The real nixpkgs lib of the 25.05 branch-off (lib.evalModules, types, mkIf, …; no NixOS
# modules, no packages), for the offline module tests. No registry carries it: it lies
# beside the checkout (CI: <repo>/../shared/nixpkgs-lib-25.05, see its README).
# NIXOS_HETZNER_NIXPKGS_LIB names another directory that holds such a lib/.
NIXPKGS_LIB_ENV = "NIXOS_HETZNER_NIXPKGS_LIB"
NIXPKGS_LIB_DEFAULT = ROOT.parent / "shared" / "nixpkgs-lib-25.05"
NIXPKGS_LIB_VERSION = "25.05"

# The prefix that Nix puts before the first line of an error, and the indentation it
# adds to the following lines of a multi-line message.
_ERROR = "error: "


class NixError(Exception):
    """nix-instantiate failed; .message is the thrown message exactly as written."""

    def __init__(self, message, stderr):
        super().__init__(message)
        self.message = message
        self.stderr = stderr


def error_message(stderr):
    """The message of the `error:` in nix-instantiate's stderr, with Nix's continuation
    indentation removed, so that it equals the string the Nix code threw."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_ERROR):
            msg = [line[len(_ERROR):]]
            pad = " " * len(_ERROR)
            for cont in lines[i + 1:]:
                if not cont.startswith(pad):
                    break
                msg.append(cont[len(pad):])
            return "\n".join(msg)
    raise AssertionError(f"no 'error:' line in nix-instantiate's stderr:\n{stderr}")


class Nix:
    def __init__(self, home):
        for sub in ("state", "conf", "home", "cache"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home / "home"),
            "NIX_STATE_DIR": str(home / "state"),
            "NIX_CONF_DIR": str(home / "conf"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "NIX_CONFIG": "build-users-group =\nexperimental-features =",
            "LANG": "C",
            "LC_ALL": "C",
        }
        self.binary = shutil.which("nix-instantiate")

    def run(self, args, cwd=ROOT):
        return subprocess.run(
            [self.binary, "--store", "dummy://", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def eval(self, expr, cwd=ROOT):
        """Evaluate a Nix expression strictly; return the JSON value or raise NixError."""
        proc = self.run(["--eval", "--strict", "--json", "-E", expr], cwd=cwd)
        if proc.returncode != 0:
            raise NixError(error_message(proc.stderr), proc.stderr)
        return json.loads(proc.stdout)

    def parse(self, path):
        return self.run(["--parse", str(path)])


@pytest.fixture(scope="session")
def nix(tmp_path_factory):
    if shutil.which("nix-instantiate") is None:
        pytest.fail("nix-instantiate is not installed (Debian package nix-bin; scripts/install-deps.sh installs it)")
    return Nix(tmp_path_factory.mktemp("nix-home"))


def nixpkgs_lib_dir():
    """The directory holding nixpkgs' lib/ (the env override, else beside the checkout)."""
    override = os.environ.get(NIXPKGS_LIB_ENV)
    return Path(override) if override else NIXPKGS_LIB_DEFAULT


@pytest.fixture(scope="session")
def nixpkgs_lib(nix):
    """The nixpkgs lib directory; skips (with the reason) where it is absent, fails where
    it is there but not the 25.05 lib the tests are written against."""
    d = nixpkgs_lib_dir()
    if not (d / "lib" / "default.nix").is_file():
        how = f"${NIXPKGS_LIB_ENV}" if os.environ.get(NIXPKGS_LIB_ENV) else "<repo>/../shared/nixpkgs-lib-25.05"
        pytest.skip(
            f"the nixpkgs 25.05 lib is not at {d}/lib ({how}); the module-system tests need it "
            f"(CI has it; elsewhere set {NIXPKGS_LIB_ENV} to a directory holding nixpkgs' lib/, "
            "or run `nix flake check` with network)"
        )
    version = nix.eval(f"(import {nix_path(d / 'lib')}).version")
    if not version.startswith(NIXPKGS_LIB_VERSION):
        pytest.fail(f"{d}/lib is nixpkgs lib {version}, the module tests are written against {NIXPKGS_LIB_VERSION}")
    return d


def nix_str(s):
    """A Nix string literal for s (JSON string syntax is valid Nix, but ${ must be escaped)."""
    return json.dumps(s).replace("${", "\\${")


def nix_path(path):
    """A Nix path value for an absolute path, safe for any characters in it."""
    return f"(/. + {nix_str(str(Path(path).resolve()))})"


def lib_expr():
    return f"(import {nix_path(LIB)})"


def read_host_expr(path, label=None):
    """Nix expression: the lib's readHost on a file (the label defaults to nix/hosts/<name>)."""
    label = label or f"nix/hosts/{Path(path).name}"
    return f"{lib_expr()}.readHost {nix_str(label)} {nix_path(path)}"


@pytest.fixture(scope="session")
def schema():
    return json.loads(SCHEMA_FILE.read_text())


@pytest.fixture
def example():
    """A fresh copy of the complete example host (tests mutate it)."""
    return json.loads(EXAMPLE_FILE.read_text())


@pytest.fixture
def write_host(tmp_path):
    """write_host(doc, name="example") -> path of <tmp>/<name>.json holding doc."""

    def write(doc, name="example"):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(doc))
        return p

    return write
