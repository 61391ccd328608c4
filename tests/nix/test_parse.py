"""Every .nix file in the repository parses (nix-instantiate --parse), and the flake's
layout is what the issue asks for. Parsing needs no nixpkgs, so this runs offline; the
modules themselves are evaluated by the flake's checks where nixpkgs is available."""
import re
import subprocess

import pytest

from nix_helpers import NIX_DIR, ROOT, nix_path

NIX_FILES = sorted(
    p for p in ROOT.rglob("*.nix")
    if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
)


def test_the_flake_has_its_files():
    rel = {str(p.relative_to(NIX_DIR)) for p in NIX_FILES if NIX_DIR in p.parents}
    for layer in ("hardware", "storage", "base", "security", "services"):
        assert f"modules/{layer}/default.nix" in rel
    assert {"flake.nix", "lib/default.nix", "tests/vm.nix"} <= rel


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nix_file_parses(nix, path):
    proc = nix.parse(path)
    assert proc.returncode == 0, proc.stderr


def test_a_syntax_error_is_caught(nix, tmp_path):
    # The parse check can fail: a file with an unbalanced brace is refused.
    bad = tmp_path / "bad.nix"
    bad.write_text("{ a = 1; \n")
    proc = nix.parse(bad)
    assert proc.returncode != 0
    assert "syntax error" in proc.stderr


def test_no_flake_lock_is_pretended():
    # flake.lock can only be made with network (`nix flake lock`, see README); the
    # repository must not ship a stale or invented one.
    tracked = subprocess.run(
        ["git", "ls-files", "nix/flake.lock"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


def test_flake_has_one_input_a_stable_nixos_branch(nix):
    # The flake's top level is plain data: evaluate it (without calling outputs).
    flake = f"(import {nix_path(NIX_DIR / 'flake.nix')})"
    got = nix.eval(
        f"{{ names = builtins.attrNames {flake}; inputs = {flake}.inputs;"
        f" args = builtins.functionArgs {flake}.outputs; }}"
    )
    assert got == {
        "names": ["description", "inputs", "outputs"],
        "inputs": {"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-25.05"}},
        "args": {"nixpkgs": False, "self": False},
    }
    assert re.fullmatch(r"github:NixOS/nixpkgs/nixos-\d\d\.(05|11)", got["inputs"]["nixpkgs"]["url"])


def option_blocks(text):
    """(line number, option name, set of keys) for every `name = mkOption { … }` in text,
    keys taken at the block's first level (nixfmt layout)."""
    out = []
    for m in re.finditer(r"(?m)^( *)([\w.]+) = mkOption \{\n", text):
        indent = len(m.group(1)) + 2
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[m.end():i]
        keys = set(re.findall(rf"(?m)^ {{{indent}}}(\w+) =", body))
        out.append((text[: m.start()].count("\n") + 1, m.group(2), keys))
    return out


# Submodule fields without a default: the value is required where the submodule is used.
REQUIRED_WITHOUT_DEFAULT = {("storage", "options.mountpoint")}


@pytest.mark.parametrize("layer", ["hardware", "storage", "base", "security", "services"])
def test_every_option_has_type_description_default_example(layer):
    text = (NIX_DIR / "modules" / layer / "default.nix").read_text()
    blocks = option_blocks(text)
    assert len(blocks) >= 5
    bad = []
    for line, name, keys in blocks:
        need = {"type", "description", "default", "example"}
        if (layer, name) in REQUIRED_WITHOUT_DEFAULT:
            need -= {"default"}
        if not need <= keys:
            bad.append(f"{layer}/default.nix:{line} {name} lacks {sorted(need - keys)}")
    assert bad == []


def test_option_block_parser_sees_a_missing_example():
    text = "  x = mkOption {\n    type = types.int;\n    default = 1;\n    description = \"d\";\n  };\n"
    assert option_blocks(text) == [(1, "x", {"type", "default", "description"})]
