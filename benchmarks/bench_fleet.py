#!/usr/bin/env python3
"""Benchmark: nixos_hetzner.vps.hcloud_fleet vs hetzner.hcloud.server (per host, forks=10).

One command, one lab, one run:

    .venv/bin/python benchmarks/bench_fleet.py            # full run (~10-20 min on 2 cores)
    .venv/bin/python benchmarks/bench_fleet.py --quick    # small smoke run (n=10, big=40, 1 rep)

It starts the Hetzner Cloud API emulator (``hcloud-lab serve``) with 40 ms latency per
request and a realistic create_server action (45 s nominal, time-scaled by --time-scale so
the run stays short), creates ``benchmarks/.venv-peers`` if needed (setup-peers.sh: the PyPI
package ``ansible`` 14.x with hetzner.hcloud, plus hcloud), and measures, for ours and the
peer in turn:

1. creating a 50-server fleet from an empty project,
2. a no-op re-run on those 50,
3. a no-op run on 500 servers (the 500 are created once, by ours, before this phase).

Ours is ONE ``nixos_hetzner.vps.hcloud_fleet`` task on localhost. The peer is
``hetzner.hcloud.server`` applied per host (an inventory of N hosts with
``ansible_connection=local``, ``gather_facts: false``, ``--forks 10``).

Per phase it records the wall time of the ansible-playbook process, the time from the start
of the task to its last result (without Ansible's start-up; from a timing callback), the API
requests and the 429 answers that the lab counted (``/__lab/stats``, reset before every
phase, with full rate-limit buckets), and whether every host reported ok. Times are
medians over --reps repetitions (the peer's 500-host phase runs --big-reps times, default
once, and is bounded by --peer-big-timeout). It also measures one create action on its own
(POST /servers, then polling the action every 20 ms) to compare the fleet create with it.

Results go to benchmarks/out/bench_fleet.json and, as a Markdown table, to stdout;
--update-results rewrites the section "## Hetzner Cloud modules vs hetzner.hcloud" of
benchmarks/RESULTS.md (and nothing else in that file).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
import peer_versions  # noqa: E402

from lab_fixture import start_lab  # noqa: E402  (the same lab the tests use)

# Ours on the same ansible-core as the peer venv (2.21, see setup-peers.sh).
OURS_BIN = Path(os.environ.get("NH_BENCH_OURS_BIN", ROOT / ".venv-2.21" / "bin"))
PEER_VENV = HERE / ".venv-peers"
PEER_BIN = PEER_VENV / "bin"
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Hetzner Cloud modules vs hetzner.hcloud"

SERVER = {"server_type": "cx23", "image": "debian-12", "location": "fsn1"}
FLEET = "bench"
CREATE_NOMINAL = 45.0  # seconds: a realistic create_server (30-60 s on the real API)


# ----------------------------------------------------------------------------- helpers

def names(n):
    return ["srv-%03d" % i for i in range(n)]


def ours_play(n, endpoint, token):
    servers = [dict(SERVER, name=name) for name in names(n)]
    return [{
        "name": "ours: one hcloud_fleet task",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{
            "name": "fleet",
            "nixos_hetzner.vps.hcloud_fleet": {
                "fleet": FLEET, "servers": servers, "api_token": token, "api_endpoint": endpoint,
            },
        }],
    }]


def peer_play(endpoint, token):
    return [{
        "name": "peer: hetzner.hcloud.server per host",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [{
            "name": "server",
            "hetzner.hcloud.server": dict(SERVER, name="{{ inventory_hostname }}", state="present",
                                          labels={"fleet": FLEET}, api_token=token,
                                          api_endpoint=endpoint),
        }],
    }]


def run_ansible(side, n, lab, workdir, timeout):
    """Run one side's playbook once; return a dict of timings and outcomes."""
    workdir.mkdir(parents=True, exist_ok=True)
    timing = workdir / "timing.jsonl"
    timing.unlink(missing_ok=True)
    playbook = workdir / "play.yml"
    inventory = workdir / "inventory.ini"
    if side == "ours":
        playbook.write_text(json.dumps(ours_play(n, lab.endpoint, lab.token)))
        inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                             % (OURS_BIN / "python"))
        cmd = [str(OURS_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    else:
        playbook.write_text(json.dumps(peer_play(lab.endpoint, lab.token)))
        inventory.write_text("[all:vars]\nansible_connection=local\nansible_python_interpreter=%s\n"
                             "[bench]\n%s\n" % (PEER_BIN / "python", "\n".join(names(n))))
        cmd = [str(PEER_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "--forks", "10"]
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
        "BENCH_TIMING_FILE": str(timing),
    })
    for var in ("HCLOUD_TOKEN", "HCLOUD_ENDPOINT"):
        env.pop(var, None)
    log = workdir / "ansible.log"
    t0 = time.monotonic()
    timed_out = False
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(workdir),
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except KeyboardInterrupt:
            os.killpg(proc.pid, 15)
            raise
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 15)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                rc = proc.wait()
    wall = time.monotonic() - t0
    events = [json.loads(line) for line in timing.read_text().splitlines()] if timing.exists() else []
    task_start = next((e["t"] for e in events if e["event"] == "task_start"), None)
    results = [e for e in events if e["event"] == "result"]
    task_end = max((e["t"] for e in results), default=None)
    failed = [e for e in results if e["status"] != "ok"]
    return {
        "wall": wall,
        "task": (task_end - task_start) if task_start and task_end else None,
        "rc": rc,
        "timed_out": timed_out,
        "hosts_ok": len(results) - len(failed),
        "hosts_failed": len(failed),
        "changed": sum(1 for e in results if e.get("changed")),
        "first_failure": failed[0]["msg"] if failed else None,
        "log": str(log),
    }


def lab_counts(lab):
    stats = lab.stats()
    return {"requests": stats["total"], "rate_limited": stats["rate_limited"],
            "by_route": stats["requests"]}


def phase(side, name, n, lab, workroot, timeout):
    lab.reset(world=False)  # zero the counters and refill the rate-limit buckets
    res = run_ansible(side, n, lab, workroot / ("%s-%s" % (side, name)), timeout)
    res.update(lab_counts(lab))
    status = "ok" if res["rc"] == 0 and not res["hosts_failed"] and not res["timed_out"] else "FAILED"
    print("  %-5s %-10s wall %7.2fs  task %7.2fs  requests %6d  429s %4d  changed %4d  %s"
          % (side, name, res["wall"], res["task"] or -1, res["requests"], res["rate_limited"],
             res["changed"], status), flush=True)
    if status != "ok":
        print("    see %s; first failure: %s" % (res["log"], res["first_failure"]), flush=True)
    return res


def one_create_action(lab, reps=3):
    """Seconds from POST /servers to the create action's success, polled every 20 ms."""
    times = []
    for i in range(reps):
        t0 = time.monotonic()
        status, _h, body = lab.request("POST", "/servers", dict(SERVER, name="probe-%d" % i))
        assert status == 201, body
        action = body["action"]["id"]
        while True:
            status, _h, body = lab.request("GET", "/actions/%d" % action)
            if body["action"]["status"] != "running":
                break
            time.sleep(0.02)
        times.append(time.monotonic() - t0)
        lab.request("DELETE", "/servers/%d" % body["action"]["resources"][0]["id"])
    return statistics.median(times)


def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    return {
        "reps": len(runs),
        "wall": median(runs, "wall"),
        "task": median(runs, "task"),
        "requests": median(runs, "requests"),
        "rate_limited": median(runs, "rate_limited"),
        "all_ok": all(r["rc"] == 0 and not r["hosts_failed"] and not r["timed_out"] for r in runs),
        "timed_out": any(r["timed_out"] for r in runs),
        "changed": median(runs, "changed"),
    }


def wait_lab_idle(lab, timeout=600):
    """Wait until no action is running (creates of the setup have finished)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, _h, body = lab.request("GET", "/actions?status=running&per_page=1")
        if status == 200 and not body["actions"]:
            return
        time.sleep(0.5)


# ----------------------------------------------------------------------------- report

def fmt_s(v):
    return "-" if v is None else "%.2f s" % v


def fmt_n(v):
    return "-" if v is None else ("%d" % v if float(v).is_integer() else "%.1f" % v)


def ratio(peer, ours):
    if peer is None or ours is None:
        return "-"
    if ours == 0:
        return "inf" if peer else "1.0x"
    return "%.1fx" % (peer / ours)


def markdown(report):
    cfg = report["config"]
    lines = [
        SECTION,
        "",
        "Script: `benchmarks/bench_fleet.py` (run it with `.venv/bin/python benchmarks/bench_fleet.py`;",
        "it creates the peer venv `benchmarks/.venv-peers` with `benchmarks/setup-peers.sh`).",
        "Ours: one `nixos_hetzner.vps.hcloud_fleet` task (max_parallel 10). Peer: `hetzner.hcloud.server`",
        "(%s) applied per host, `--forks 10`, `connection: local`,"
        % (peer_versions.describe("hetzner.hcloud", versions=report["peer_versions"])
           if report.get("peer_versions") else "from the PyPI package `ansible` %s" % report["peer_ansible_version"]),
        "`gather_facts: false`; ours runs on the same ansible-core (`.venv-2.21`). Lab: %d ms latency per request, create_server %g s nominal x time scale"
        % (cfg["latency"] * 1000, CREATE_NOMINAL),
        "%g = one create action measured at **%.2f s** in this run (POST to success). Rate limit %d"
        % (cfg["time_scale"], report["one_create_action"], cfg["rate_limit"]),
        "requests per bucket, refill %g/s; counters and buckets reset before every phase." % cfg["rate_refill"],
        "Times are medians of %d repetitions (the peer's %d-server phase: %d); *task* is the time from"
        % (cfg["reps"], cfg["big"], cfg["big_reps"]),
        "the task's start to its last result, *wall* the whole ansible-playbook process.",
        "Measured %s on %s (%d cores, shared with other work%s)." % (
            report["when"], report["machine"], report["cores"],
            "; 5-minute load average %.1f at the start, %.1f at the end" % (
                report["load"]["start"][1], report["load"]["end"][1]) if report.get("load") else ""),
        "",
        "| phase | ours wall | peer wall | ours task | peer task | task ratio | ours requests | peer requests | request ratio | ours 429s | peer 429s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("create", "create %d from empty" % cfg["n"]),
                       ("noop", "no-op re-run on %d" % cfg["n"]),
                       ("noop_big", "no-op on %d" % cfg["big"])):
        o, p = report["summary"]["ours"][key], report["summary"]["peer"][key]
        flag = ""
        if not o["all_ok"] or not p["all_ok"]:
            flag = " (FAILED: %s)" % ", ".join(s for s, r in (("ours", o), ("peer", p)) if not r["all_ok"])
        if p.get("timed_out"):
            flag += " (peer stopped at the time cap)"
        lines.append("| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, flag, fmt_s(o["wall"]), fmt_s(p["wall"]), fmt_s(o["task"]), fmt_s(p["task"]),
            ratio(p["task"], o["task"]), fmt_n(o["requests"]), fmt_n(p["requests"]),
            ratio(p["requests"], o["requests"]), fmt_n(o["rate_limited"]), fmt_n(p["rate_limited"])))
    so, sp = report["summary"]["ours"], report["summary"]["peer"]
    one = report["one_create_action"]
    if so["noop"]["task"] is not None and so["create"]["task"] is not None:
        fixed = so["noop"]["task"]
        per_create = fmt_n(sp["create"]["requests"] / cfg["n"]) if sp["create"]["requests"] else "-"
        per_noop = fmt_n(sp["noop"]["requests"] / cfg["n"]) if sp["noop"]["requests"] else "-"
        lines += [
            "",
            "Reading: ours' no-op task (%s, one request) is the fixed cost of running one module" % fmt_s(fixed),
            "through Ansible on this machine (module start-up and result handling); the create task less",
            "that cost is %s, %.2fx the create action. The peer pays that cost once per host, 10 hosts"
            % (fmt_s(so["create"]["task"] - fixed), (so["create"]["task"] - fixed) / one),
            "at a time, and spends %s requests per host to create (lookups of the server, its type, image"
            % per_create,
            "and location, the create, polls of its own action) and %s per host for a no-op. Ours spends"
            % per_noop,
            "one paginated list (50 servers per page) on a no-op; on a create, the list, three catalogs,",
            "one POST per server and batched polls (up to 25 actions per request).",
        ]
    lines += ["", "Requests by route (first repetition; every run is in `benchmarks/out/bench_fleet.json`):", ""]
    for key, label in (("create", "create %d" % cfg["n"]), ("noop", "no-op %d" % cfg["n"]),
                       ("noop_big", "no-op %d" % cfg["big"])):
        for side in ("ours", "peer"):
            runs = report["runs"][side][key]
            if runs:
                routes = ", ".join("%s %d" % (k.replace(" /v1", " "), v)
                                   for k, v in sorted(runs[0]["by_route"].items()))
                lines.append("- %s, %s: %s" % (label, side, routes))
    lines += ["", "Targets (ours):", ""]
    for target in report["targets"]:
        lines.append("- %s: %s (**%s**)" % (target["what"], target["measured"],
                                             "met" if target["met"] else "MISSED"))
    lines.append("")
    return "\n".join(lines)


def targets(report):
    s = report["summary"]
    oc, on, pc, pn = s["ours"]["create"], s["ours"]["noop"], s["peer"]["create"], s["peer"]["noop"]
    ob, pb = s["ours"]["noop_big"], s["peer"]["noop_big"]
    one = report["one_create_action"]
    n = report["config"]["n"]
    out = [
        {"what": "no-op re-run of %d makes at most 3 requests" % n,
         "measured": "%s request(s)" % fmt_n(on["requests"]), "met": on["requests"] is not None and on["requests"] <= 3},
        {"what": "create %d within 1.5x one create action (%.2f s; task time)" % (n, one),
         "measured": "%s = %.2fx" % (fmt_s(oc["task"]), (oc["task"] or 0) / one),
         "met": oc["task"] is not None and oc["task"] <= 1.5 * one},
        {"what": "create %d within 1.5x one create action (whole process, with Ansible start-up)" % n,
         "measured": "%s = %.2fx" % (fmt_s(oc["wall"]), (oc["wall"] or 0) / one),
         "met": oc["wall"] is not None and oc["wall"] <= 1.5 * one},
    ]
    full = s["ours"].get("create_full") or {}
    one_full = report.get("one_create_action_full")
    if full.get("reps") and one_full:
        out.append({"what": "create %d within 1.5x one create action at full length (%.2f s, time scale 1; "
                            "whole process)" % (n, one_full),
                    "measured": "%s = %.2fx (task %s = %.2fx)" % (
                        fmt_s(full["wall"]), full["wall"] / one_full, fmt_s(full["task"]),
                        full["task"] / one_full),
                    "met": full["wall"] <= 1.5 * one_full})
    out += [
        {"what": "create %d with at most 3 requests per server" % n,
         "measured": "%.2f per server" % ((oc["requests"] or 0) / n),
         "met": oc["requests"] is not None and oc["requests"] <= 3 * n},
    ]
    for key, label in (("create", "create"), ("noop", "no-op re-run"), ("noop_big", "no-op on the big fleet")):
        o, p = s["ours"][key], s["peer"][key]
        met = o["requests"] is not None and p["requests"] is not None and p["requests"] >= 5 * max(o["requests"], 1)
        out.append({"what": "%s: at least 5x fewer requests than the peer" % label,
                    "measured": "%s vs %s (%s)" % (fmt_n(o["requests"]), fmt_n(p["requests"]),
                                                   ratio(p["requests"], o["requests"])),
                    "met": met})
    return out


def update_results(text):
    """Replace only our section of RESULTS.md (up to the next '## ' heading)."""
    doc = RESULTS.read_text()
    start = doc.index(SECTION)
    nxt = doc.find("\n## ", start + len(SECTION))
    end = len(doc) if nxt < 0 else nxt + 1
    RESULTS.write_text(doc[:start] + text.rstrip("\n") + "\n\n" + doc[end:].lstrip("\n"))


# ----------------------------------------------------------------------------- main

def _interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50, help="servers in the create and no-op phases")
    ap.add_argument("--big", type=int, default=500, help="servers in the big no-op phase")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per phase (medians)")
    ap.add_argument("--big-reps", type=int, default=1, help="repetitions of the peer's big phase")
    ap.add_argument("--latency", type=float, default=0.040, help="lab latency per request (s)")
    ap.add_argument("--time-scale", type=float, default=0.2,
                    help="lab time scale; create_server is %g s nominal" % CREATE_NOMINAL)
    ap.add_argument("--timeout", type=float, default=900, help="cap per ansible-playbook run (s)")
    ap.add_argument("--peer-big-timeout", type=float, default=1500,
                    help="cap of the peer's big no-op run (s); reported if hit")
    ap.add_argument("--full-length-reps", type=int, default=2,
                    help="repetitions of ours' create phase with the action at full length "
                         "(time scale 1; 0 skips it)")
    ap.add_argument("--quick", action="store_true", help="smoke run: n=10, big=40, reps=1")
    ap.add_argument("--render", metavar="JSON",
                    help="do not measure: render the table from a saved report (benchmarks/out/bench_fleet.json)")
    ap.add_argument("--update-results", action="store_true",
                    help="write the table into benchmarks/RESULTS.md (our section only)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.big, args.reps, args.full_length_reps = 10, 40, 1, 0
    if args.render:
        report = json.loads(Path(args.render).read_text())
        report["targets"] = targets(report)
        text = markdown(report)
        print(text)
        if args.update_results:
            update_results(text)
        return 0

    # SIGTERM ends the run like Ctrl-C, so the lab and the running playbook are cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    load_start = os.getloadavg()
    subprocess.run([str(HERE / "setup-peers.sh")], check=True)
    peer_version = subprocess.run([str(PEER_BIN / "python"), "-c",
                                   "import importlib.metadata as m; print(m.version('ansible'))"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    OUT.mkdir(exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="bench-fleet-", dir=str(OUT)))
    runs = {side: {"create": [], "noop": [], "noop_big": [], "create_full": []} for side in ("ours", "peer")}
    with start_lab(time_scale=args.time_scale) as lab:
        lab.configure(latency=args.latency, durations={"create_server": CREATE_NOMINAL})
        cfg = lab.stats()["config"]
        print("lab %s  latency %.0f ms  time scale %g  (workdir %s)" % (
            lab.endpoint, cfg["latency"] * 1000, cfg["time_scale"], workroot), flush=True)
        one = one_create_action(lab)
        print("one create action: %.2f s" % one, flush=True)

        for rep in range(args.reps):
            print("repetition %d/%d" % (rep + 1, args.reps), flush=True)
            for side in ("ours", "peer"):
                lab.reset(world=True)
                runs[side]["create"].append(phase(side, "create", args.n, lab, workroot / str(rep), args.timeout))
                wait_lab_idle(lab)
                runs[side]["noop"].append(phase(side, "noop", args.n, lab, workroot / str(rep), args.timeout))

        one_full = None
        if args.full_length_reps:
            # Ansible's start-up and per-task cost do not shrink with the time scale, so the
            # ratio to one create action is also measured with the action at its full length.
            lab.configure(time_scale=1.0)
            one_full = one_create_action(lab, reps=1)
            print("full length (time scale 1): one create action %.2f s" % one_full, flush=True)
            for rep in range(args.full_length_reps):
                lab.reset(world=True)
                runs["ours"]["create_full"].append(phase("ours", "create-1x", args.n, lab,
                                                         workroot / ("full-%d" % rep), args.timeout))
            lab.configure(time_scale=args.time_scale)

        print("big fleet: %d servers (set up by one hcloud_fleet task, not measured)" % args.big, flush=True)
        lab.reset(world=True)
        setup = run_ansible("ours", args.big, lab, workroot / "big-setup", args.timeout)
        if setup["rc"] != 0:
            raise SystemExit("setting up %d servers failed, see %s" % (args.big, setup["log"]))
        wait_lab_idle(lab)
        for rep in range(args.reps):
            runs["ours"]["noop_big"].append(phase("ours", "noop%d" % args.big, args.big, lab,
                                                  workroot / ("big-%d" % rep), args.timeout))
        for rep in range(args.big_reps):
            runs["peer"]["noop_big"].append(phase("peer", "noop%d" % args.big, args.big, lab,
                                                  workroot / ("big-%d" % rep), args.peer_big_timeout))

    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": "%s %s, Python %s" % (platform.system(), platform.machine(), platform.python_version()),
        "cores": os.cpu_count(),
        "load": {"start": load_start, "end": os.getloadavg()},
        "peer_ansible_version": peer_version,
        "peer_versions": peer_versions.read(),
        "config": {"n": args.n, "big": args.big, "reps": args.reps, "big_reps": args.big_reps,
                   "latency": cfg["latency"], "time_scale": cfg["time_scale"],
                   "rate_limit": cfg["rate_limit"], "rate_refill": cfg["rate_refill"]},
        "one_create_action": one,
        "one_create_action_full": one_full,
        "runs": runs,
        "summary": {side: {k: summarize(v) for k, v in phases.items()} for side, phases in runs.items()},
    }
    report["targets"] = targets(report)
    (OUT / "bench_fleet.json").write_text(json.dumps(report, indent=1, default=str))
    text = markdown(report)
    print()
    print(text)
    if args.update_results:
        update_results(text)
        print("updated %s" % RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
