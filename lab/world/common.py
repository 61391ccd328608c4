"""What the world's parts share: id ranges, the labels of the kinds, and the formats of
timestamps, reverse DNS entries and SSH key fingerprints."""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone

ID_BASE = {
    "server": 1_000_000, "ssh_key": 2_000_000, "firewall": 3_000_000, "network": 4_000_000,
    "volume": 5_000_000, "placement_group": 6_000_000, "primary_ip": 7_000_000,
    "floating_ip": 8_000_000, "action": 10_000_000, "image": 400_000_000,
}
KIND_LABEL = {
    "server": "server", "ssh_key": "SSH key", "firewall": "firewall", "network": "network",
    "volume": "volume", "placement_group": "placement group", "primary_ip": "primary IP",
    "floating_ip": "floating IP", "image": "image", "action": "action",
}
PROTECTABLE = {"server", "volume", "network", "primary_ip", "floating_ip", "image"}
HOSTNAME_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).replace(microsecond=0).isoformat()


def default_ptr(ip: str) -> str:
    """The reverse entry Hetzner gives a new IPv4 address."""
    return "static." + ".".join(reversed(ip.split("."))) + ".clients.your-server.de"


def is_hostname(name: str) -> bool:
    return bool(re.fullmatch(rf"{HOSTNAME_LABEL}(\.{HOSTNAME_LABEL})*", name)) and len(name) <= 63


def ssh_fingerprint(public_key: str) -> str:
    """MD5 fingerprint (colon hex) of an OpenSSH public key line; ValueError if invalid."""
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValueError("not an OpenSSH public key (expected 'TYPE BASE64 [COMMENT]')")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except Exception:
        raise ValueError("the key's base64 part is not valid base64")
    if len(blob) < 20:
        raise ValueError("the key's base64 part is too short")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))
