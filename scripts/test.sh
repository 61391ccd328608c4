#!/usr/bin/env bash
# Runs every test suite: `make test`, which is also what CI runs (.ci/run).
# Any failure, and any suite that collects no test (pytest exit code 5), fails the run.
#
# Two phases of parallel jobs (the machine has 2 cores; the jobs are sized so that
# neither core idles while the other works):
#   1. a) ansible-core 2.19 / Python 3.11 (.venv): ansible-lint (production), galaxy
#         build + install + playbook, pytest without VMs (unit, emulator API, hcloud
#         integration, nix, roles), molecule on the API lab
#      b) ansible-core 2.21 / Python 3.13 (.venv-2.21): ansible-lint, ansible-test sanity,
#         antsibull-changelog and antsibull-docs lint, pytest without VMs (unit, emulator
#         API, hcloud integration, roles; tests/nix evaluates Nix only and runs once, in a),
#         tests/tooling (ansible-runner against the API lab, ansible-builder)
#      c) the lab VM images (first build ~10 min, then reused from the cache in seconds)
#   2. a) pytest -m vm: lab servers as qemu VMs, storage modules on real disks, data safety
#      b) molecule storage on the qemu lab, then the installed half
#         (tests/vm/test_installed.py: site.yml to installed on one VM, the re-run and the
#         day-2 drills: reboot + MITM + unlock, wrong passphrase, power loss, type change,
#         snapshots before rebuild, sharing that VM's boots). It replaces molecule `default` in CI: its converge is the same
#         site.yml (there up to the install), its idempotence the drills' re-run, and its
#         verify steps run in the storage (rescue stack) and API scenarios; CI cannot
#         afford both (MOLECULE_VM_SCENARIOS=default scripts/gates.sh molecule runs it).
# The VM suites of phase 2 run on 2.19 only: they test the lab VMs and the storage
# modules on real disks, which do not depend on the ansible-core version that phase 1
# already covers at both ends (docs/implementation.md, "Supported ansible-core").
# Each job writes its own log; a log is printed when its job ends.
#
#   NIXOS_HETZNER_VM_TESTS=0 make test   phase 1a and 1b only (no VM; ~12 min)
#   NIXOS_HETZNER_E2E=1 make test        also the main job end to end (tests/e2e: `make
#                                        run`'s script twice on two VMs, ~12 min more)
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
vm="${NIXOS_HETZNER_VM_TESTS:-1}"
logs=$(mktemp -d)
t0=$SECONDS
stamp() { echo "-- [$(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s] $*"; }

job_fast() {
  stamp "== ansible-core 2.19 / Python 3.11: ansible-lint (production), galaxy build + install + playbook"
  scripts/gates.sh lint build
  stamp "== pytest (2.19): unit, emulator API, hcloud integration, nix, roles (no VM)"
  python -m pytest tests -m "not vm" --ignore=tests/tooling "$@"
  stamp "== molecule scenarios on the API lab (2.19)"
  MOLECULE_VM=0 scripts/gates.sh molecule
}
job_new() {
  stamp "== .venv-2.21 (make setup-2.21; a no-op when it is up to date)"
  make -s setup-2.21
  export PATH="$PWD/.venv-2.21/bin:$PATH" GATES_VENV=.venv-2.21
  stamp "== ansible-core 2.21 / Python 3.13: ansible-lint, ansible-test sanity, changelog, docs"
  scripts/gates.sh lint sanity changelog docs
  stamp "== pytest (2.21): unit, emulator API, hcloud integration, roles, tooling (no VM)"
  python -m pytest tests/unit tests/lab tests/integration tests/roles tests/tooling \
    -m "not vm" -p no:cacheprovider "$@"
  # No molecule here: the four API scenarios cost 7 min wall / 2.7 CPU-min on 2.21
  # (measured; docs/implementation.md), which phase 1 cannot afford beside the image
  # build. The roles run on 2.21 in tests/roles (every layer's facts into the host JSON)
  # and tests/tooling (the hardware role and destroy.yml through ansible-runner).
}
job_images() {
  echo "== lab VM images"
  hcloud-lab images build
}
job_vm_pytest() {
  echo "== pytest -m vm: lab VMs, storage modules on real disks, data safety"
  python -m pytest tests -m vm --durations=0 --ignore=tests/vm/test_installed.py "$@"
}
job_vm_installed() {
  stamp "== molecule storage on the qemu lab"
  MOLECULE_API_SCENARIOS="" MOLECULE_VM=1 MOLECULE_VM_SCENARIOS=storage scripts/gates.sh molecule
  stamp "== the installed half: install, re-run, day-2 drills (tests/vm/test_installed.py)"
  python -m pytest tests/vm/test_installed.py -s --durations=0 "$@"
}

# run NAME FUNCTION [ARGS]: in the background, output to $logs/NAME.log
declare -A pids=()
run() { local name=$1; shift; stamp "start $name"; ( set -e; "$@" ) >"$logs/$name.log" 2>&1 & pids[$name]=$!; }
# wait_all: waits for every job, prints each log as its job ends; fails if any failed
wait_all() {
  local failed=() name rc
  while ((${#pids[@]})); do
    for name in "${!pids[@]}"; do
      if ! kill -0 "${pids[$name]}" 2>/dev/null; then
        rc=0; wait "${pids[$name]}" || rc=$?
        stamp "end $name (exit $rc); its log:"
        sed "s/^/[$name] /" "$logs/$name.log"
        ((rc == 0)) || failed+=("$name")
        unset "pids[$name]"
      fi
    done
    sleep 2
  done
  if ((${#failed[@]})); then stamp "FAILED: ${failed[*]}"; return 1; fi
}

if [ "$vm" != 1 ]; then
  run fast job_fast "$@"
  run new job_new "$@"
  wait_all
  stamp "passed (lab VM suites skipped: NIXOS_HETZNER_VM_TESTS=$vm)"
  exit 0
fi

run fast job_fast "$@"
run new job_new "$@"
run images job_images
wait_all
export NIXOS_HETZNER_LAB_REQUIRE_VMS=1  # the images exist now: a VM test may fail, not skip
run vm-pytest job_vm_pytest "$@"
run vm-installed job_vm_installed "$@"
wait_all
stamp "all suites passed"
