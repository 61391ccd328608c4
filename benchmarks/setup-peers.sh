#!/usr/bin/env bash
# Creates benchmarks/.venv-peers: a separate virtual environment that holds the PEER
# collections (hetzner.hcloud, community.general, community.crypto) from the PyPI package
# `ansible` 12.x, plus the `hcloud` library that hetzner.hcloud needs. The collection
# itself never depends on them; only the benchmark scripts use this venv.
#
# Several benchmark scripts want the same venv, so creation is serialised with
# `flock /tmp/venv-peers.lock`; a complete venv is marked with .stamp and reused.
set -euo pipefail
cd "$(dirname "$0")"
VENV="$PWD/.venv-peers"
PYTHON="${PYTHON:-python3}"
ANSIBLE_SPEC="${ANSIBLE_SPEC:-ansible==12.*}"
# Same ansible-core and hcloud as the main venv, so both sides run on one engine.
CORE_SPEC="${CORE_SPEC:-ansible-core==2.19.14}"
HCLOUD_SPEC="${HCLOUD_SPEC:-hcloud==2.27.0}"

exec 9>/tmp/venv-peers.lock
flock 9
if [[ -f "$VENV/.stamp" ]] && "$VENV/bin/ansible-doc" -t module hetzner.hcloud.server >/dev/null 2>&1; then
    echo "peer venv ready: $VENV"
    exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$ANSIBLE_SPEC" "$CORE_SPEC" "$HCLOUD_SPEC" jmespath
# Smoke test: the peer module must load and render its documentation.
"$VENV/bin/ansible-doc" -t module hetzner.hcloud.server >/dev/null
"$VENV/bin/python" -c 'import hcloud; print("hcloud", hcloud.__version__)'
touch "$VENV/.stamp"
echo "peer venv ready: $VENV"
