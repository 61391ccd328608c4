#!/usr/bin/env bash
# The main job (`make run`): start the lab, show that the Hetzner Cloud API answers
# through the official hcloud library, then (hook below) run the playbooks against it.
#
# The lab is stopped at the end unless it was already running before, or MAIN_KEEP_LAB=1.
# LAB_* variables are passed on to scripts/lab.sh (e.g. LAB_BACKEND=qemu).
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
export PATH="$PWD/.venv/bin:$PATH"
# site.yml needs lab servers that are VMs (rescue system over SSH): qemu backend, with the
# VM images built once and then reused from the cache.
export LAB_BACKEND="${LAB_BACKEND:-qemu}"
if [ "$LAB_BACKEND" = qemu ]; then
  echo "== lab VM images (first build ~10 min, then from the cache)"
  hcloud-lab images build
fi

was_running=0
scripts/lab.sh status >/dev/null 2>&1 && was_running=1
stop_lab() {
  if [ "$was_running" = 0 ] && [ "${MAIN_KEEP_LAB:-0}" != 1 ]; then
    scripts/lab.sh down
  fi
}
trap stop_lab EXIT

echo "== lab"
scripts/lab.sh up
eval "$(scripts/lab.sh env)"
export HCLOUD_ENDPOINT HCLOUD_TOKEN

echo "== the API answers (hcloud $(python -c 'import hcloud; print(hcloud.__version__)'))"
python - <<'PY'
import os
from hcloud import Client

c = Client(token=os.environ["HCLOUD_TOKEN"], api_endpoint=os.environ["HCLOUD_ENDPOINT"])
print("locations:")
for loc in c.locations.get_all():
    print(f"  {loc.name:<5} {loc.city:<14} {loc.network_zone}")
print("server types:")
for st in c.server_types.get_all():
    print(f"  {st.name:<6} {st.architecture:<4} {st.cores:>2} cores {st.memory:>5g} GB RAM "
          f"{st.disk:>4} GB disk  {st.cpu_type}")
print(f"servers in the lab: {len(c.servers.get_all())}")
PY

# ---------------------------------------------------------------------------------------
# site.yml on inventories/lab: the servers end installed (the lab's stand-in system, not
# NixOS; docs/lab-vms.md). MAIN_RUNS=2 runs it twice
# and fails unless the second run reports zero changed tasks.
# ---------------------------------------------------------------------------------------
run_site() {  # $1: run number; the output also goes to $LAB_STATE/site-run-$1.log
  local log="${LAB_STATE_DIR:-$PWD/.lab}/site-run-$1.log"
  echo "== site.yml on inventories/lab (run $1; log: $log)"
  ansible-playbook site.yml -i inventories/lab/hosts.yml \
    -e "hcloud_api_endpoint=$HCLOUD_ENDPOINT" -e "hcloud_api_token=$HCLOUD_TOKEN" \
    ${MAIN_ANSIBLE_ARGS:-} 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
recap_changed() {  # hosts whose PLAY RECAP line reports changed != 0
  awk '/^PLAY RECAP/ {r=1; next} r && / : ok=/ && !/ changed=0 / {print $1}' "$1"
}
run_site 1
if [ "${MAIN_RUNS:-1}" -ge 2 ]; then
  run_site 2
  changed=$(recap_changed "${LAB_STATE_DIR:-$PWD/.lab}/site-run-2.log")
  if [ -n "$changed" ]; then
    echo "main.sh: the second run changed something on: $changed" >&2
    exit 1
  fi
  echo "== second run: zero changed tasks"
fi

echo "== main job done"
