#!/usr/bin/env bash
# Creates benchmarks/.venv-peers: a separate virtual environment that holds the PEER
# collections (hetzner.hcloud, community.general, community.crypto) from the PyPI package
# `ansible` 14.x (the current one; it needs ansible-core 2.21, hence Python 3.12+), plus
# the `hcloud` library that hetzner.hcloud needs. The collection itself never depends on
# them; only the benchmark scripts use this venv. The versions it holds are printed and
# written to .venv-peers/versions.txt (RESULTS.md names them).
#
# Several benchmark scripts want the same venv, so creation is serialised with
# `flock /tmp/venv-peers.lock`; a complete venv is marked with .stamp and reused.
set -euo pipefail
cd "$(dirname "$0")"
VENV="$PWD/.venv-peers"
# The Python of .venv-2.21 (ansible-core 2.21 needs 3.12+).
PYTHON="${PYTHON:-$(ls -d "$HOME"/.pyenv/versions/3.13.*/bin/python3 2>/dev/null | head -1)}"
PYTHON="${PYTHON:-python3.13}"
ANSIBLE_SPEC="${ANSIBLE_SPEC:-ansible==14.5.0}"
# Same ansible-core and hcloud as .venv-2.21 (requirements-2.21.txt), so that both sides
# run on one engine: bench_fleet.py runs ours from .venv-2.21, the storage benchmarks run
# both sides with this venv's ansible-playbook.
CORE_SPEC="${CORE_SPEC:-ansible-core==2.21.5}"
HCLOUD_SPEC="${HCLOUD_SPEC:-hcloud==2.27.0}"

exec 9>/tmp/venv-peers.lock
flock 9
want="$ANSIBLE_SPEC $CORE_SPEC $HCLOUD_SPEC"
if [[ -f "$VENV/.stamp" ]] && [[ "$(cat "$VENV/.stamp")" == "$want" ]] \
    && "$VENV/bin/ansible-doc" -t module hetzner.hcloud.server >/dev/null 2>&1; then
    echo "peer venv ready: $VENV"
    exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$ANSIBLE_SPEC" "$CORE_SPEC" "$HCLOUD_SPEC" jmespath
# Smoke test: the peer module must load and render its documentation.
"$VENV/bin/ansible-doc" -t module hetzner.hcloud.server >/dev/null
"$VENV/bin/python" - "$VENV/versions.txt" <<'PY'
import importlib.metadata as md, json, pathlib, sys
import ansible_collections
root = pathlib.Path(list(ansible_collections.__path__)[0])
lines = ["python " + sys.version.split()[0]]
lines += [f"{d} {md.version(d)}" for d in ("ansible", "ansible-core", "hcloud")]
for c in ("hetzner/hcloud", "community/general", "community/crypto"):
    lines.append(c.replace("/", ".") + " " + json.load(open(root / c / "MANIFEST.json"))["collection_info"]["version"])
pathlib.Path(sys.argv[1]).write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "$want" >"$VENV/.stamp"
echo "peer venv ready: $VENV"
