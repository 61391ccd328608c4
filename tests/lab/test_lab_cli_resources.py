"""hcloud-cli (Debian's hcloud) against the lab's newer resources: floating IPs, snapshots,
rebuild from a snapshot, reverse DNS, ISOs, metrics, the added server actions and the
deprecated server types."""
import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("hcloud") is None,
                                reason="hcloud-cli (Debian) not installed")


@pytest.fixture
def cli(lab):
    env = {"HCLOUD_ENDPOINT": lab.endpoint, "HCLOUD_TOKEN": lab.token, "PATH": "/usr/bin:/bin",
           "HOME": str(lab.state_dir)}

    def run(*args, ok=True):
        out = subprocess.run(["hcloud", *args], capture_output=True, text=True, env=env,
                             timeout=120)
        if ok:
            assert out.returncode == 0, (args, out.stdout, out.stderr)
            return out.stdout
        assert out.returncode != 0, (args, out.stdout)
        return out.stdout + out.stderr
    return run


def js(text):
    return json.loads(text)


def test_cli_floating_ips_and_rdns(cli):
    cli("server", "create", "--name", "web", "--type", "cx23", "--image", "debian-13",
        "--location", "fsn1")
    cli("floating-ip", "create", "--type", "ipv4", "--home-location", "fsn1", "--name", "vip",
        "--description", "front")
    fip = js(cli("floating-ip", "describe", "vip", "-o", "json"))
    assert fip["home_location"]["name"] == "fsn1" and fip["server"] is None
    cli("floating-ip", "assign", "vip", "web")
    server = js(cli("server", "describe", "web", "-o", "json"))
    assert server["public_net"]["floating_ips"] == [fip["id"]]
    cli("floating-ip", "set-rdns", "vip", "--hostname", "vip.example.com")
    assert "vip.example.com" in cli("floating-ip", "describe", "vip")
    cli("server", "set-rdns", "web", "--hostname", "web.example.com")
    assert js(cli("server", "describe", "web", "-o", "json"))["public_net"]["ipv4"][
        "dns_ptr"] == "web.example.com"
    cli("floating-ip", "enable-protection", "vip", "delete")
    cli("floating-ip", "delete", "vip", ok=False)
    cli("floating-ip", "disable-protection", "vip", "delete")
    cli("floating-ip", "unassign", "vip")
    cli("floating-ip", "update", "vip", "--description", "spare")
    assert "spare" in cli("floating-ip", "list", "-o", "columns=name,description")
    cli("floating-ip", "delete", "vip")
    assert "vip" not in cli("floating-ip", "list")


def test_cli_snapshot_rebuild_iso_metrics_and_actions(cli):
    cli("server", "create", "--name", "db", "--type", "cpx22", "--image", "debian-13",
        "--location", "nbg1")
    cli("server", "create-image", "--type", "snapshot", "--description", "golden", "db")
    snaps = js(cli("image", "list", "--type", "snapshot", "-o", "json"))
    assert [i["description"] for i in snaps] == ["golden"] and snaps[0]["status"] == "available"
    sid = str(snaps[0]["id"])
    cli("image", "update", sid, "--description", "golden-2")
    cli("image", "add-label", sid, "keep=yes")
    assert js(cli("image", "describe", sid, "-o", "json"))["labels"] == {"keep": "yes"}
    cli("server", "rebuild", "db", "--image", sid)
    assert js(cli("server", "describe", "db", "-o", "json"))["image"]["id"] == int(sid)
    isos = cli("iso", "list")
    assert "nixos-minimal-25.11-x86_64-linux.iso" in isos
    cli("server", "attach-iso", "db", "nixos-minimal-25.11-x86_64-linux.iso")
    assert js(cli("server", "describe", "db", "-o", "json"))["iso"]["name"].startswith("nixos")
    cli("server", "detach-iso", "db")
    metrics = cli("server", "metrics", "db", "--type", "cpu", "-o", "json")
    assert "time_series" in metrics and '"cpu"' in metrics
    assert "password" in cli("server", "reset-password", "db").lower()
    console = cli("server", "request-console", "db")
    assert "ws://127.0.0.1:" in console
    cli("image", "delete", sid)
    assert not js(cli("image", "list", "--type", "snapshot", "-o", "json"))  # null or []


def test_cli_deprecated_server_types(cli):
    described = js(cli("server-type", "describe", "cx22", "-o", "json"))
    assert described["deprecation"]["unavailable_after"] == "2025-12-31T23:59:59+00:00"
    assert not any(loc["available"] for loc in described["locations"])
    out = cli("server", "create", "--name", "old", "--type", "cx22", "--image", "debian-13",
              "--location", "fsn1", ok=False)
    assert "unsupported location for server type" in out
    cli("server", "create", "--name", "new", "--type", "cx23", "--image", "debian-13",
        "--location", "fsn1")
    listing = cli("server-type", "list")
    assert "cpx62" in listing and "cx53" in listing
