"""Run real Ansible from tests and get the per-task results back as dicts.

    from playbook_run import run_module, run_tasks, ccrr

    res = run_module("nixos_hetzner.vps.hcloud_server", {"name": "web1", ...},
                     check=True, diff=True, env={"HCLOUD_TOKEN": lab.token,
                                                 "HCLOUD_ENDPOINT": lab.endpoint})
    assert res["changed"]

    results = run_tasks([{"nixos_hetzner.vps.hcloud_ssh_key": {...}}, ...])  # one dict per task
    # check, real, check, real -> [True, True, False, False]
    assert ccrr("nixos_hetzner.vps.hcloud_ssh_key", args, env=env) == [True, True, False, False]

ansible-playbook runs as a subprocess with ANSIBLE_COLLECTIONS_PATH pointing at the repo's
.collections, and the test callback tests/integration/callback_plugins/nh_results.py
writes every task result as a JSON line. Results are returned in task order for one host
(default: localhost); each is the module's result dict plus ``_status`` (ok, failed,
skipped, unreachable) and ``_task``. A failed task does not raise unless ``expect_ok``
is true (the default for run_module); its dict has ``failed: true`` and ``msg``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
BIN = Path(sys.executable).parent


class AnsibleRunError(AssertionError):
    pass


def _yaml_dump(data):
    # JSON is valid YAML; no PyYAML dependency needed for writing playbooks.
    return json.dumps(data, indent=1)


def run_playbook(play, check=False, diff=False, inventory=None, env=None, extra_vars=None,
                 forks=None, timeout=900, host="localhost", verbosity=0):
    """Run one play (a dict) or a list of plays; return (results for ``host``, process)."""
    plays = play if isinstance(play, list) else [play]
    with tempfile.TemporaryDirectory(prefix="nh-ansible-") as tmp:
        tmp = Path(tmp)
        pb = tmp / "play.yml"
        pb.write_text(_yaml_dump(plays))
        results_file = tmp / "results.jsonl"
        if inventory is None:
            inv = tmp / "inventory.ini"
            inv.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                           % sys.executable)
            inventory = str(inv)
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(pb)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if forks:
            cmd += ["--forks", str(forks)]
        if extra_vars:
            ev = tmp / "extra_vars.json"
            ev.write_text(json.dumps(extra_vars))
            cmd += ["-e", "@%s" % ev]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        environ = dict(os.environ)
        environ.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "nh_results",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": str(tmp / "local-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(tmp / "remote-tmp"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "NH_RESULTS_FILE": str(results_file),
            "PATH": "%s:%s" % (BIN, environ.get("PATH", "")),
        })
        environ.update(env or {})
        proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout,
                              cwd=str(tmp))
        results = []
        if results_file.exists():
            for line in results_file.read_text().splitlines():
                entry = json.loads(line)
                if host is not None and entry["host"] != host:
                    continue
                res = dict(entry["result"])
                res["_status"] = entry["status"]
                if entry["status"] in ("failed", "unreachable"):
                    res["failed"] = True
                res["_task"] = entry["task"]
                res["_host"] = entry["host"]
                results.append(res)
        return results, proc


def run_tasks(tasks, check=False, diff=False, hosts="localhost", gather_facts=False, expect_ok=False,
              **kwargs):
    """Run ``tasks`` (list of task dicts) in one play; return per-task results for one host."""
    play = {"hosts": hosts, "gather_facts": gather_facts, "tasks": tasks}
    results, proc = run_playbook(play, check=check, diff=diff, **kwargs)
    if expect_ok and (proc.returncode != 0 or any(r.get("failed") for r in results)):
        raise AnsibleRunError("ansible-playbook failed (rc=%s)\nresults: %s\nstdout:\n%s\nstderr:\n%s"
                              % (proc.returncode, json.dumps(results, indent=1, default=str)[-6000:],
                                 proc.stdout[-4000:], proc.stderr[-4000:]))
    if not results and proc.returncode != 0:
        raise AnsibleRunError("ansible-playbook produced no results (rc=%s)\nstdout:\n%s\nstderr:\n%s"
                              % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    return results


def run_module(module, args, check=False, diff=False, expect_ok=True, **kwargs):
    """Run one module with ``args`` on localhost; return its result dict."""
    task = {"name": "run %s" % module, module: args}
    results = run_tasks([task], check=check, diff=diff, expect_ok=expect_ok, **kwargs)
    if len(results) != 1:
        raise AnsibleRunError("expected 1 result, got %d: %r" % (len(results), results))
    return results[0]


def ccrr(module, args, diff=False, **kwargs):
    """The standard sequence check, real, check, real; returns the four result dicts."""
    out = []
    for check in (True, False, True, False):
        out.append(run_module(module, args, check=check, diff=diff, **kwargs))
    return out
