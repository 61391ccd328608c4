"""The lab as a test tool: faults with a seed, stats, reset, persistence across a restart,
concurrency, address pools, the CLI, hcloud-cli and a clean SIGTERM."""
import ipaddress
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hcloud.images import Image
from hcloud.server_types import ServerType

from lab_fixture import start_lab


def fault_sequence(lab, n=60):
    return [lab.request("GET", "/locations")[0] for _ in range(n)]


def test_faults_are_deterministic_for_a_seed(lab):
    lab.configure(fault_rate=0.3, fault_kinds=[500, 502, 503, 504], seed=42)
    first = fault_sequence(lab)
    lab.configure(seed=42)  # re-seeding restarts the sequence
    second = fault_sequence(lab)
    assert first == second
    assert {500, 502, 503, 504} <= set(first) and 200 in first
    assert 0.1 < sum(s != 200 for s in first) / len(first) < 0.5
    lab.configure(seed=7)
    third = fault_sequence(lab)
    assert third != first
    faults = sum(s != 200 for s in first + second + third)
    stats = lab.stats()
    assert stats["faults"] == faults
    assert sum(stats["statuses"].get(str(c), 0) for c in (500, 502, 503, 504)) == faults


def test_fault_bodies_look_like_api_errors(lab):
    lab.configure(fault_rate=1.0, fault_kinds=[503], seed=1)
    st, headers, body = lab.request("GET", "/servers")
    assert st == 503 and body["error"]["code"] == "unavailable"
    assert "RateLimit-Remaining" in headers
    lab.configure(fault_rate=1.0, fault_kinds=[502], seed=1)
    assert lab.request("GET", "/servers")[2]["error"]["code"] == "bad_gateway"


def test_timeout_fault_holds_then_drops_the_connection(lab):
    lab.configure(fault_rate=1.0, fault_kinds=["timeout"], fault_timeout=0.5, seed=3)
    t0 = time.monotonic()
    with pytest.raises(Exception):
        lab.request("GET", "/servers", timeout=10)
    assert time.monotonic() - t0 >= 0.5
    lab.configure(fault_rate=1.0, fault_kinds=["timeout"], fault_timeout=5, seed=3)
    with pytest.raises(Exception):  # a client with a short timeout sees a timeout
        lab.request("GET", "/servers", timeout=0.5)


def test_hcloud_retries_through_502(lab):
    """hcloud retries 502 by itself: with a seed whose first answer is a 502 the call
    still succeeds, and the stats show the extra request."""
    for seed in range(200):
        lab.configure(fault_rate=0.5, fault_kinds=[502], seed=seed)
        seq = fault_sequence(lab, 3)
        if seq[0] == 502 and seq[1] == 200:
            break
    lab.configure(seed=seed)
    lab.reset(world=False)
    lab.configure(seed=seed)
    c = lab.client()
    assert len(c.locations.get_all()) == 6
    assert lab.calls("GET", "/v1/locations") == 2
    assert lab.stats()["statuses"].get("502") == 1


def test_action_faults_are_seeded_too(lab):
    lab.configure(fault_actions={"create_server": 0.5}, seed=5)
    outcome1 = []
    c = lab.client()
    for i in range(8):
        r = c.servers.create(name=f"f{i}", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        outcome1.append(r.action.id)
    time.sleep(0.5)
    st1 = [c.actions.get_by_id(a).status for a in outcome1]
    assert set(st1) == {"success", "error"}
    failed = [c.servers.get_by_name(f"f{i}").status for i, s in enumerate(st1) if s == "error"]
    assert set(failed) == {"off"}
    lab.reset(world=True)
    lab.configure(fault_actions={"create_server": 0.5}, seed=5)
    ids = [c.servers.create(name=f"f{i}", server_type=ServerType(name="cx23"),
                            image=Image(name="debian-12")).action.id for i in range(8)]
    time.sleep(0.5)
    assert [c.actions.get_by_id(a).status for a in ids] == st1


def test_stats_count_by_method_and_template(lab):
    c = lab.client()
    r = c.servers.create(name="s", server_type=ServerType(name="cx23"), image=Image(name="debian-12"))
    r.action.wait_until_finished()
    c.servers.get_by_id(r.server.id)
    c.servers.get_by_id(r.server.id)
    lab.request("GET", "/nowhere")
    stats = lab.stats()
    req = stats["requests"]
    assert req["POST /v1/servers"] == 1
    assert req["GET /v1/servers/{id}"] == 2
    assert req["GET /v1/actions/{id}"] >= 1
    assert req["GET <unmatched>"] == 1
    assert stats["total"] == sum(req.values())
    assert stats["world"]["server"] == 1
    lab.reset(world=False)
    assert lab.stats()["total"] == 0 and lab.stats()["world"]["server"] == 1
    lab.reset(world=True)
    assert lab.stats()["world"]["server"] == 0


def test_fifty_parallel_creates(lab):
    def one(i):
        return lab.request("POST", "/servers", {"name": f"p{i:02d}", "server_type": "cx23",
                                                "image": "debian-12"})
    with ThreadPoolExecutor(50) as ex:
        results = list(ex.map(one, range(50)))
    assert all(st == 201 for st, _, _ in results)
    ids = {b["server"]["id"] for _, _, b in results}
    ips = {b["server"]["public_net"]["ipv4"]["ip"] for _, _, b in results}
    acts = {b["action"]["id"] for _, _, b in results}
    assert len(ids) == len(ips) == len(acts) == 50
    _, _, body = lab.request("GET", "/servers?per_page=50")
    assert body["meta"]["pagination"]["total_entries"] == 50
    assert {s["public_net"]["ipv4"]["ip"] for s in body["servers"]} == ips
    # 50 parallel label updates on one server: the last write wins, none is lost in between
    sid = next(iter(ids))

    def label(i):
        return lab.request("PUT", f"/servers/{sid}", {"labels": {"n": str(i)}})[0]
    with ThreadPoolExecutor(25) as ex:
        assert set(ex.map(label, range(50))) == {200}
    assert lab.stats()["requests"]["PUT /v1/servers/{id}"] == 50


def test_ipv4_pool_goes_past_254(lab):
    def one(i):
        st, _, b = lab.request("POST", "/servers", {"name": f"m{i:03d}", "server_type": "cx23",
                                                    "image": "debian-12",
                                                    "public_net": {"enable_ipv6": False}})
        assert st == 201, b
        return b["server"]["public_net"]["ipv4"]["ip"]
    with ThreadPoolExecutor(8) as ex:
        ips = list(ex.map(one, range(256)))
    addrs = sorted(ipaddress.ip_address(i) for i in ips)
    assert len(set(addrs)) == 256
    assert str(addrs[0]) == "127.0.0.2"
    assert all(a.is_loopback for a in addrs)
    assert ipaddress.ip_address("127.0.0.254") in addrs
    beyond = [a for a in addrs if a > ipaddress.ip_address("127.0.0.254")]
    assert [str(a) for a in beyond] == ["127.0.1.2", "127.0.1.3", "127.0.1.4"]


def test_restart_keeps_the_world(tmp_path):
    state = tmp_path / "state"
    with start_lab(state_dir=state) as lab1:
        c = lab1.client()
        c.ssh_keys.create(name="k", public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND k")
        r = c.servers.create(name="keep", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"), labels={"a": "b"})
        for a in [r.action, *r.next_actions]:  # start_server runs after the create
            a.wait_until_finished()
        lab1.configure(durations={"stop_server": 150.0})  # 1.5 s: still running at restart
        pending = r.server.power_off()
        net = c.networks.create(name="net", ip_range="10.0.0.0/16")
        assert lab1.stop() == 0
        assert not (state / "lab.json").exists()
    with start_lab(state_dir=state) as lab2:
        c = lab2.client()
        s = c.servers.get_by_name("keep")
        assert s.id == r.server.id and s.labels == {"a": "b"}
        assert s.public_net.ipv4.ip == "127.0.0.2"
        assert c.ssh_keys.get_by_name("k") and c.networks.get_by_id(net.id).name == "net"
        a = c.actions.get_by_id(pending.id)
        a.wait_until_finished()
        assert c.servers.get_by_id(s.id).status == "off"
        # ids continue, nothing is reused
        r2 = c.servers.create(name="new", server_type=ServerType(name="cx23"),
                              image=Image(name="debian-12"))
        assert r2.server.id > s.id and r2.server.public_net.ipv4.ip == "127.0.0.3"
        assert r2.action.id > pending.id


def test_ipv4_base_and_status_cli(tmp_path):
    with start_lab(state_dir=tmp_path, ipv4_base="127.0.7.2") as lab:
        c = lab.client()
        r = c.servers.create(name="based", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        assert r.server.public_net.ipv4.ip == "127.0.7.2"
        r.action.wait_until_finished()
        info = json.loads((tmp_path / "lab.json").read_text())
        assert info["endpoint"] == lab.endpoint and info["pid"] == lab.proc.pid
        exe = Path(sys.executable).parent / "hcloud-lab"
        out = subprocess.run([str(exe), "status", "--state-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "based" in out.stdout and "127.0.7.2" in out.stdout and "running" in out.stdout
        js = subprocess.run([str(exe), "status", "--state-dir", str(tmp_path), "--json"],
                            capture_output=True, text=True, timeout=60)
        assert json.loads(js.stdout)["servers"][0]["ipv4"] == "127.0.7.2"


def test_serve_refuses_bad_arguments(tmp_path):
    exe = Path(sys.executable).parent / "hcloud-lab"
    out = subprocess.run([str(exe), "serve", "--state-dir", str(tmp_path), "--port", "0",
                          "--token", "t", "--backend", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown backend" in out.stderr
    out = subprocess.run([str(exe), "serve", "--state-dir", str(tmp_path), "--port", "0",
                          "--token", "t", "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "loopback" in out.stderr
    out = subprocess.run([str(exe), "serve", "--state-dir", str(tmp_path), "--port", "0",
                          "--token", "t", "--ipv4-base", "10.0.0.2"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "127.0.0.0/8" in out.stderr


def test_sigterm_stops_cleanly(tmp_path):
    with start_lab(state_dir=tmp_path) as lab:
        port = int(lab.endpoint.rsplit(":", 1)[1].split("/")[0])
        lab.proc.send_signal(signal.SIGTERM)
        assert lab.proc.wait(30) == 0
        assert not (tmp_path / "lab.json").exists()
        assert "stopped" in (tmp_path / "lab.log").read_text()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)


@pytest.mark.skipif(shutil.which("hcloud") is None, reason="hcloud-cli (Debian) not installed")
def test_hcloud_cli_works_against_the_lab(lab):
    env = {"HCLOUD_ENDPOINT": lab.endpoint, "HCLOUD_TOKEN": lab.token, "PATH": "/usr/bin:/bin",
           "HOME": str(lab.state_dir)}

    def cli(*args):
        out = subprocess.run(["hcloud", *args], capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout
    cli("ssh-key", "create", "--name", "cli", "--public-key",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND cli")
    cli("server", "create", "--name", "from-cli", "--type", "cx23", "--image", "debian-12",
        "--ssh-key", "cli", "--location", "nbg1")
    listing = cli("server", "list")
    assert "from-cli" in listing and "running" in listing and "127.0.0.2" in listing
    cli("server", "poweroff", "from-cli")
    data = json.loads(cli("server", "list", "-o", "json"))
    assert data[0]["status"] == "off" and data[0]["public_net"]["ipv4"]["ip"] == "127.0.0.2"
    assert "cax11" in cli("server-type", "list")
    assert "sin" in cli("location", "list")
    cli("server", "delete", "from-cli")
    assert "from-cli" not in cli("server", "list")


def test_down_command_stops_a_lab(tmp_path):
    exe = Path(sys.executable).parent / "hcloud-lab"
    with start_lab(state_dir=tmp_path) as lab:
        out = subprocess.run([str(exe), "down", "--state-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=90)
        assert out.returncode == 0 and "stopped" in out.stdout
        assert lab.proc.wait(30) == 0
    out = subprocess.run([str(exe), "down", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and "no lab running" in out.stdout
