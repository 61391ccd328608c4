#!/usr/bin/env bash
# Quality gates of the collection (called by scripts/test.sh; each also runs on its own):
#   scripts/gates.sh lint       ansible-lint, production profile, offline; shellcheck of the
#                               lab's image hooks
#   scripts/gates.sh build      ansible-galaxy collection build, install of the tarball into
#                               a temporary path, a playbook that runs from that install
#   scripts/gates.sh sanity     ansible-test sanity, every test that applies to a collection,
#                               offline (tests/sanity/get_pip_offline.py); fails on errors
#   scripts/gates.sh changelog  antsibull-changelog lint of the fragments, and CHANGELOG.md is
#                               exactly what changelogs/ generates
#   scripts/gates.sh docs       antsibull-docs lint-collection-docs (modules, the inventory
#                               plugin, the roles' argument specs, cross references)
#   scripts/gates.sh molecule   molecule scenarios on private labs: the API-only ones
#                               (hardware, security, services, base; MOLECULE_API_SCENARIOS
#                               picks them) and, with MOLECULE_VM=1, default and storage on
#                               a qemu lab
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
# GATES_VENV: the venv whose tools run the gates (.venv: ansible-core 2.19; .venv-2.21).
export PATH="$ROOT/${GATES_VENV:-.venv}/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

lint() {
  echo "== ansible-lint (production profile)"
  ansible-lint --offline
  echo "== shellcheck: the lab's image hooks"
  shellcheck lab/images/hooks/*.sh
  # The stand-in's scripts are part of its image cache key: notes below warning level
  # are left for the next change that rebuilds it anyway.
  shellcheck --severity=warning lab/images/standin/hook.sh lab/images/standin/standin-rebuild
}

build() {
  echo "== ansible-galaxy collection build + install + a playbook from the install"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  ansible-galaxy collection build --output-path "$tmp/dist" "$ROOT"
  local tarball
  tarball=$(ls "$tmp"/dist/nixos_hetzner-vps-*.tar.gz)
  ANSIBLE_COLLECTIONS_PATH="$tmp/install" ansible-galaxy collection install --offline --force -p "$tmp/install" "$tarball"
  local coll="$tmp/install/ansible_collections/nixos_hetzner/vps"
  test -f "$coll/MANIFEST.json"
  # The installed collection alone (not the repository): ansible-doc renders a module and
  # a role, and the base role renders a host JSON from the install, with its own flake.
  ANSIBLE_COLLECTIONS_PATH="$tmp/install" ansible-doc nixos_hetzner.vps.hcloud_fleet >/dev/null
  ANSIBLE_COLLECTIONS_PATH="$tmp/install" ansible-doc -t role nixos_hetzner.vps.storage >/dev/null
  mkdir -p "$tmp/hosts"
  cat >"$tmp/inventory.yml" <<INV
nixos_hetzner:
  hosts:
    gate-1:
      ansible_connection: local
      ansible_python_interpreter: $(command -v python)
      storage_disk_by_id: /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_gate
      base_architecture: x86_64
      base_memory_mib: 2048
      base_hosts_dir: $tmp/hosts
      hardware_fleet_public_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdhdGUta2V5LW5vdC1yZWFs gate"]
      hardware_server: {id: 1, ipv4: 127.0.0.9, ipv6: "2001:db8::1", ipv6_network: "2001:db8::/64", labels: {}}
INV
  printf '[defaults]\n' >"$tmp/ansible.cfg"  # not the repository's ansible.cfg
  (cd "$tmp" && ANSIBLE_COLLECTIONS_PATH="$tmp/install" ANSIBLE_CONFIG="$tmp/ansible.cfg" \
    ansible-playbook -i inventory.yml "$ROOT/tests/roles/host_json_play.yml")
  python3 - "$tmp/hosts/gate-1.json" "$coll" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["hostname"] == "gate-1" and doc["schemaVersion"] == 1, doc
print("host JSON rendered from the installed collection:", sys.argv[1])
PY
  # The FQCN playbooks of the install parse.
  (cd "$tmp" && ANSIBLE_COLLECTIONS_PATH="$tmp/install" ANSIBLE_CONFIG="$tmp/ansible.cfg" \
    ansible-playbook -i inventory.yml --syntax-check nixos_hetzner.vps.site)
}

sanity() {
  # Every sanity test that applies to a collection, on the Python of the venv on PATH (3.11
  # with ansible-core 2.19, 3.13 with 2.21). Fails on any error.
  local py
  py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo "== ansible-test sanity (ansible-core $(python -c 'import ansible; print(ansible.__version__)'), Python $py, offline)"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # From the built tarball, so that sanity sees exactly what users get.
  ansible-galaxy collection build --output-path "$tmp" "$ROOT" >/dev/null
  local src="$tmp/src/ansible_collections/nixos_hetzner/vps"
  mkdir -p "$src"
  tar -xzf "$tmp"/nixos_hetzner-vps-*.tar.gz -C "$src"
  mkdir -p "$src/tests" && cp -r "$ROOT/tests/sanity" "$src/tests/"
  # ansible-test bootstraps pip in each sanity venv with a script from
  # ci-files.testing.ansible.com; put the offline stand-in where it looks first, with
  # this shell's pip configuration (index, CA bundle) for the venvs' pip.conf.
  local v cache="$HOME/.ansible/test/cache"
  v=$(python -c 'from types import SimpleNamespace as N; from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(N(version="'"$py"'"))["pip"])')
  mkdir -p "$cache"
  cp "$ROOT/tests/sanity/get_pip_offline.py" "$cache/get_pip_${v//./_}.py"
  python "$ROOT/tests/sanity/get_pip_offline.py" --write-config "$cache/pip-offline.conf"
  # SANITY_ARGS: extra arguments, e.g. "--test pylint" to run one test.
  # shellcheck disable=SC2086
  (cd "$src" && ansible-test sanity --python "$py" --color no ${SANITY_ARGS:-})
}

changelog() {
  echo "== antsibull-changelog: lint the fragments; CHANGELOG.md is what changelogs/ generates"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  antsibull-changelog lint
  antsibull-changelog generate --output "$tmp/CHANGELOG.md" --output-format md
  if ! diff -u CHANGELOG.md "$tmp/CHANGELOG.md"; then
    echo "CHANGELOG.md is not generated from changelogs/ (run: antsibull-changelog generate)" >&2
    return 1
  fi
}

docs() {
  echo "== antsibull-docs lint-collection-docs: modules, inventory plugin, roles, references"
  antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
    --disallow-unknown-collection-refs "$ROOT"
}

molecule_run() {
  # MOLECULE_API_SCENARIOS: the API-only scenarios to run (default: all four; "" for none).
  # MOLECULE_VM=1: also the qemu lab scenarios, MOLECULE_VM_SCENARIOS (default: default =
  # full site up to the install, and storage).
  local api_scenarios="${MOLECULE_API_SCENARIOS-hardware security services base}"
  local vm_scenarios="${MOLECULE_VM_SCENARIOS-default storage}"
  local state port rc=0 s
  if [ -n "$api_scenarios" ]; then
    echo "== molecule on the API lab: $api_scenarios"
    state=$(mktemp -d)
    port=$(free_port)
    LAB_STATE_DIR="$state" LAB_PORT="$port" LAB_BACKEND=api LAB_TIME_SCALE=0.01 \
      LAB_IPV4_BASE="127.0.$((150 + port % 50)).2" scripts/lab.sh up
    for s in $api_scenarios; do
      echo "-- molecule test -s $s (API-only lab)"
      HCLOUD_ENDPOINT="http://127.0.0.1:$port/v1" HCLOUD_TOKEN=lab-token molecule test -s "$s" || rc=1
    done
    LAB_STATE_DIR="$state" scripts/lab.sh down >/dev/null 2>&1 || true
    rm -rf "$state"
  fi
  if [ "${MOLECULE_VM:-0}" = 1 ]; then
    echo "== molecule on the qemu lab: $vm_scenarios"
    state=$(mktemp -d)
    port=$(free_port)
    LAB_STATE_DIR="$state" LAB_PORT="$port" LAB_BACKEND=qemu \
      LAB_IPV4_BASE="127.0.$((200 + port % 50)).2" \
      LAB_ARGS="${MOLECULE_LAB_ARGS:---backend-opt vm_memory_mb=2048}" scripts/lab.sh up
    for s in $vm_scenarios; do
      echo "-- molecule test -s $s (qemu lab)"
      HCLOUD_ENDPOINT="http://127.0.0.1:$port/v1" HCLOUD_TOKEN=lab-token molecule test -s "$s" || rc=1
    done
    LAB_STATE_DIR="$state" scripts/lab.sh down || true
    rm -rf "$state"
  fi
  return $rc
}

for gate in "${@:-lint build sanity molecule}"; do
  for g in $gate; do
    case "$g" in
      lint) lint ;;
      build) build ;;
      sanity) sanity ;;
      changelog) changelog ;;
      docs) docs ;;
      molecule) molecule_run ;;
      *) echo "usage: $0 [lint|build|sanity|changelog|docs|molecule]..." >&2; exit 2 ;;
    esac
  done
done
