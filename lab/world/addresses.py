"""The public addresses of the world: IPv4 from a loopback range (so that a VM backend
can bind its forwards there) and IPv6 /64 networks from the documentation prefix."""
from __future__ import annotations

import ipaddress

from ..errors import APIError


class Addresses:
    def __init__(self, objs: dict, ipv4_base: str):
        if not ipaddress.IPv4Address(ipv4_base).is_loopback:
            raise ValueError(f"--ipv4-base {ipv4_base} is not inside 127.0.0.0/8")
        self.objs = objs
        self.ipv4_base = int(ipaddress.IPv4Address(ipv4_base))
        self.reserved: dict[str, int] = {}  # IPv4 of a deleted server -> its delete action

    def reserve(self, ip: str, action_id: int) -> None:
        """Keep a deleted server's address taken until its delete action has finished (a
        VM backend may still be tearing down the VM bound to it)."""
        self.reserved[ip] = action_id

    def ipv4(self) -> str:
        used = {int(ipaddress.IPv4Address(p["ip"]))
                for kind in ("primary_ip", "floating_ip") for p in self.objs[kind].values()
                if p["type"] == "ipv4"}
        for ip, aid in list(self.reserved.items()):
            if self.objs["action"].get(aid, {}).get("status") == "running":
                used.add(int(ipaddress.IPv4Address(ip)))
            else:
                del self.reserved[ip]
        n = self.ipv4_base
        while n in used or (n & 0xFF) in (0, 1, 255):
            n += 1
        if n >= int(ipaddress.IPv4Address("127.255.255.255")):
            raise APIError(412, "resource_unavailable", "the lab's loopback IPv4 pool is exhausted")
        return str(ipaddress.IPv4Address(n))

    def ipv6(self, floating: bool = False) -> str:
        kind = "floating_ip" if floating else "primary_ip"
        used = {p["ip"] for p in self.objs[kind].values() if p["type"] == "ipv6"}
        n = len(used) + 1
        base = 0x8000 if floating else 0  # floating /64s: 2001:db8:8000::/33
        while True:
            net = f"2001:db8:{base | ((n >> 16) & 0x7FFF):x}:{n & 0xFFFF:x}::/64"
            if net not in used:
                return net
            n += 1

    def clear(self) -> None:
        self.reserved.clear()
