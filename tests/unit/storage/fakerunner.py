"""Table-driven fake of ``plugins/module_utils/_runner.Runner`` for storage unit tests.

A test lists the commands it expects, in order, each with its canned result::

    from fakerunner import FakeRunner, cmd
    runner = FakeRunner([
        cmd(["blkid", "-p", "-o", "export", "/dev/sdb"], rc=2),
        cmd(["wipefs", "--no-act", "--json", "/dev/sdb"], out='{"signatures": []}'),
        cmd(["cryptsetup", "luksFormat", ...], stdin=b"secret"),
    ])
    ...code under test...(runner)
    runner.assert_done()

* Any command not next in the table fails the test at once (``AssertionError`` with
  the expected and the actual argv), as does a command issued after the table ran out.
* ``stdin`` (optional): when given, the bytes sent must be exactly these.
  ``stdin=None`` in the table means "do not care"; ``stdin=False`` means "must be none".
* argv entries may be ``ANY`` (matches one argument) or a compiled regex.
* Only ``Runner._exec`` is replaced: LANG=C handling, the secret-in-argv guard and
  ``CommandError`` raising are the real code.
* ``fixture("name")`` reads ``tests/unit/storage/fixtures/<name>`` (captured outputs).
"""
import os
import re
from pathlib import Path

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Runner

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class _Any(object):
    def __repr__(self):
        return "ANY"


ANY = _Any()


def fixture(name):
    """Text of a captured output under tests/unit/storage/fixtures/."""
    return (FIXTURES / name).read_text()


def cmd(argv, rc=0, out="", err="", stdin=None):
    """One expected command and its canned result."""
    return {"argv": list(argv), "rc": rc, "out": out, "err": err, "stdin": stdin}


def _match(expected, actual):
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        if e is ANY:
            continue
        if hasattr(e, "fullmatch"):
            if not e.fullmatch(a):
                return False
        elif str(e) != a:
            return False
    return True


class FakeRunner(Runner):
    """A Runner whose commands come from a table. ``calls`` records every
    ``(argv, stdin)`` actually issued."""

    def __init__(self, table, log=None):
        Runner.__init__(self, module=None, log=log)
        self.table = list(table)
        self.pos = 0
        self.calls = []

    def _exec(self, argv, data):
        self.calls.append((list(argv), data))
        if self.pos >= len(self.table):
            raise AssertionError("unexpected command (table exhausted after %d): %r"
                                 % (self.pos, argv))
        exp = self.table[self.pos]
        if not _match(exp["argv"], argv):
            raise AssertionError("unexpected command #%d:\n  expected %r\n  got      %r"
                                 % (self.pos, exp["argv"], argv))
        if exp["stdin"] is False and data:
            raise AssertionError("command #%d %r got stdin, expected none" % (self.pos, argv))
        if exp["stdin"] not in (None, False) and data != exp["stdin"]:
            raise AssertionError("command #%d %r: stdin %r, expected %r"
                                 % (self.pos, argv, data, exp["stdin"]))
        self.pos += 1
        return exp["rc"], exp["out"], exp["err"]

    def assert_done(self):
        """Fail if some expected commands were never issued."""
        if self.pos != len(self.table):
            raise AssertionError("%d expected command(s) never ran, next: %r"
                                 % (len(self.table) - self.pos, self.table[self.pos]["argv"]))

    @property
    def argvs(self):
        return [c[0] for c in self.calls]


class FakeDevFS(object):
    """In-memory stand-in for ``_blockdev.DevFS``.

    ``devices``: kernel names that exist, e.g. ``{"/dev/sda", "/dev/sda1"}``;
    ``links``: alias -> kernel name, e.g. ``{"/dev/disk/by-id/scsi-X": "/dev/sda"}``;
    ``busy``: kernel names an exclusive open would fail on;
    ``holders``: kernel name -> device-mapper names on it (``["crypt0"]``)."""

    def __init__(self, devices=(), links=None, busy=(), holders=None):
        self.devices = set(devices)
        self.links = dict(links or {})
        self.busy = set(busy)
        self.holders = dict(holders or {})  # kernel name -> [dm names]

    def mapper_holders(self, path):
        return list(self.holders.get(self.canonical(path), []))

    def canonical(self, path):
        return self.links.get(path, path)

    def exists(self, path):
        return self.canonical(path) in self.devices

    def is_block(self, path):
        return self.exists(path)

    def is_busy(self, path):
        return self.canonical(path) in self.busy

    def same_device(self, a, b):
        return self.canonical(a) == self.canonical(b)

    def identity(self, path):
        return ("path", self.canonical(path))

    #: contents for the data-safety probe: kernel name -> bytes; others read as zeros
    images = {}

    def size(self, path):
        return len(self.images.get(self.canonical(path), b"")) or 1 << 30

    def read_at(self, path, offset, length):
        data = self.images.get(self.canonical(path))
        if data is None:
            return b"\0" * max(0, min(length, self.size(path) - offset))
        return data[offset:offset + length]

    def is_crypt_mapping(self, path):
        return False

    def aliases(self, path):
        real = self.canonical(path)
        names = sorted(n for n, t in self.links.items() if t == real)
        return {"realpath": real,
                "by_id": [n for n in names if n.startswith("/dev/disk/by-id/")],
                "by_partlabel": [n for n in names if n.startswith("/dev/disk/by-partlabel/")],
                "mapper": next((n for n in names if n.startswith("/dev/mapper/")), None)}

    def preferred_by_id(self, path):
        from ansible_collections.nixos_hetzner.vps.plugins.module_utils._blockdev import pick_by_id
        return pick_by_id(self.aliases(path)["by_id"])


class TreeFS(bd.DevFS):
    """DevFS over a temp tree; regular files stand in for block devices."""
    busy = ()

    def is_block(self, path):
        return os.path.isfile(self._host(path))

    def is_busy(self, path):
        return self.canonical(path) in self.busy
