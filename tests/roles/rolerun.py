"""Helpers for the role tests: run real ansible-playbook on a throw-away inventory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def write_inventory(path: Path, hosts: dict, group_vars: dict | None = None) -> Path:
    """An inventory (JSON is YAML) with the hosts in group nixos_hetzner, all local."""
    inv = {"nixos_hetzner": {"hosts": hosts, "vars": dict(group_vars or {})}}
    inv["nixos_hetzner"]["vars"].setdefault("ansible_connection", "local")
    inv["nixos_hetzner"]["vars"].setdefault("ansible_python_interpreter", sys.executable)
    path.write_text(json.dumps(inv, indent=1))
    return path


def run_playbook(playbook: Path, inventory: Path, extra_vars: dict | None = None,
                 check: bool = False, timeout: int = 600, env: dict | None = None):
    """Run ansible-playbook; return the CompletedProcess (stdout holds the default output)."""
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    e = dict(os.environ)
    e.update({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "PATH": str(BIN) + os.pathsep + e.get("PATH", ""),
    })
    e.update(env or {})
    return subprocess.run(cmd, cwd=str(ROOT), env=e, capture_output=True, text=True,
                          timeout=timeout)


def recap(stdout: str) -> dict:
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from the PLAY RECAP."""
    out = {}
    seen = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            seen, out = True, {}
            continue
        if seen and ":" in line and "=" in line:
            host, _, rest = line.partition(":")
            out[host.strip()] = {k: int(v) for k, v in
                                 (kv.split("=") for kv in rest.split())}
    return out
