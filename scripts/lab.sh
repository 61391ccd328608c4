#!/usr/bin/env bash
# Start, stop or inspect the local Hetzner Cloud API lab (hcloud-lab) in the background.
#
#   scripts/lab.sh up       start it (if not running), wait until it answers, print
#                           endpoint and token
#   scripts/lab.sh down     stop it cleanly (SIGTERM, wait; SIGKILL after LAB_STOP_TIMEOUT)
#   scripts/lab.sh status   show the lab and its servers (hcloud-lab status)
#   scripts/lab.sh env      print `export HCLOUD_ENDPOINT=... HCLOUD_TOKEN=...` lines
#
# Environment (defaults in brackets):
#   LAB_STATE_DIR [.lab]  LAB_PORT [8480]  LAB_TOKEN [lab-token]  LAB_BACKEND [api]
#   LAB_TIME_SCALE [1]    LAB_IPV4_BASE [127.0.0.2]  LAB_ARGS [] (more `serve` flags)
#   LAB_READY_TIMEOUT [60]  LAB_STOP_TIMEOUT [60]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${LAB_STATE_DIR:-$ROOT/.lab}
PORT=${LAB_PORT:-8480}
TOKEN=${LAB_TOKEN:-lab-token}
BACKEND=${LAB_BACKEND:-api}
TIME_SCALE=${LAB_TIME_SCALE:-1}
IPV4_BASE=${LAB_IPV4_BASE:-127.0.0.2}
LAB=${HCLOUD_LAB:-$ROOT/.venv/bin/hcloud-lab}
PIDFILE=$STATE/serve.pid
LOG=$STATE/serve.log

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

endpoint() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$STATE/lab.json"
}

answers() {
  python3 - "$1" "$TOKEN" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/locations", headers={"Authorization": "Bearer " + sys.argv[2]})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

up() {
  mkdir -p "$STATE"
  if pid=$(running_pid); then
    echo "lab already running (pid $pid)"
  else
    [ -x "$LAB" ] || { echo "lab.sh: $LAB not found; run 'make setup' first" >&2; exit 1; }
    rm -f "$STATE/lab.json"
    # shellcheck disable=SC2086
    setsid "$LAB" serve --state-dir "$STATE" --port "$PORT" --token "$TOKEN" \
      --backend "$BACKEND" --time-scale "$TIME_SCALE" --ipv4-base "$IPV4_BASE" \
      ${LAB_ARGS:-} >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  local deadline=$((SECONDS + ${LAB_READY_TIMEOUT:-60}))
  until [ -f "$STATE/lab.json" ] && answers "$(endpoint)"; do
    if ! running_pid >/dev/null; then
      echo "lab.sh: hcloud-lab exited; last log lines:" >&2
      tail -n 20 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if ((SECONDS > deadline)); then
      echo "lab.sh: lab did not answer within ${LAB_READY_TIMEOUT:-60}s (log: $LOG)" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "endpoint $(endpoint)"
  echo "token $TOKEN"
  echo "backend $BACKEND  state $STATE  pid $(cat "$PIDFILE")  log $LOG"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    echo "lab not running"
    rm -f "$PIDFILE"
    "$LAB" vms kill --state-dir "$STATE" 2>/dev/null | grep -v '^stopped 0 ' || true  # VMs of a crashed lab
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + ${LAB_STOP_TIMEOUT:-60}))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "lab.sh: pid $pid ignored SIGTERM for ${LAB_STOP_TIMEOUT:-60}s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  "$LAB" vms kill --state-dir "$STATE" 2>/dev/null | grep -v '^stopped 0 ' || true  # qemu backend: no VM outlives the lab
  echo "lab stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status)
    if running_pid >/dev/null; then "$LAB" status --state-dir "$STATE"; else echo "lab not running"; exit 1; fi ;;
  env)
    running_pid >/dev/null || { echo "lab not running" >&2; exit 1; }
    echo "export HCLOUD_ENDPOINT=$(endpoint) HCLOUD_TOKEN=$TOKEN" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
