# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""LUKS2 with cryptsetup: parsers, comparisons and argv builders (pure), plus the
one helper that puts a secret in a RAM-backed temporary file (for the one cryptsetup
call that needs two secrets at once, luksAddKey).

Secrets: the existing key always goes to cryptsetup as ``--key-file -`` with the
exact bytes on stdin (or as the user's key file path); a passphrase never appears in
argv. ``--key-file -`` makes cryptsetup read stdin to EOF without newline handling,
so the bytes are the passphrase exactly.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

# option name -> (cryptsetup open/refresh flag, `cryptsetup status` flag, luksDump header flag)
FLAGS = {
    "allow_discards": ("--allow-discards", "discards", "allow-discards"),
    "perf_no_read_workqueue": ("--perf-no_read_workqueue", "no_read_workqueue", "no-read-workqueue"),
    "perf_no_write_workqueue": ("--perf-no_write_workqueue", "no_write_workqueue", "no-write-workqueue"),
}


class LuksError(Exception):
    """A user-facing refusal (mismatch, last key, wrong key, ...)."""


def parse_luksdump(text):
    """Parse ``cryptsetup luksDump`` (LUKS2 text) into ``{version, uuid, label,
    subsystem, flags: [...], cipher, sector_size, key_size (bits), keyslots:
    {slot: {key_size, pbkdf, time_cost, memory, threads}}}``. LUKS1 dumps give
    ``version`` 1, ``cipher`` from "Cipher name/mode" and ``keyslots`` ENABLED ones."""
    info = {"version": None, "uuid": None, "label": None, "subsystem": None, "flags": [],
            "cipher": None, "sector_size": None, "key_size": None, "keyslots": {}}
    section = None
    slot = None
    luks1_cipher = [None, None]
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        m = re.match(r"^(\w[\w ]*):\s*(.*)$", line)
        if m and not raw.startswith((" ", "\t")):
            key, value = m.group(1), m.group(2).strip()
            if key == "Version":
                info["version"] = int(value)
            elif key == "UUID":
                info["uuid"] = value
            elif key == "Label":
                info["label"] = None if value == "(no label)" else value
            elif key == "Subsystem":
                info["subsystem"] = None if value == "(no subsystem)" else value
            elif key == "Flags":
                info["flags"] = [] if value == "(no flags)" else value.split()
            elif key == "Cipher name":
                luks1_cipher[0] = value
            elif key == "Cipher mode":
                luks1_cipher[1] = value
            elif key == "MK bits":
                info["key_size"] = int(value)
            elif key in ("Data segments", "Keyslots", "Tokens", "Digests"):
                section = key
                slot = None
            else:
                m1 = re.match(r"^Key Slot (\d+): (ENABLED|DISABLED)", line)
                if m1 and m1.group(2) == "ENABLED":
                    info["keyslots"][int(m1.group(1))] = {}
            continue
        m1 = re.match(r"^Key Slot (\d+): (ENABLED|DISABLED)", line)
        if m1:
            if m1.group(2) == "ENABLED":
                info["keyslots"][int(m1.group(1))] = {}
            continue
        stripped = line.strip()
        m = re.match(r"^(\d+): (\S+)", stripped)
        if m and raw.startswith("  ") and not raw.startswith("\t"):
            if section == "Keyslots":
                slot = int(m.group(1))
                info["keyslots"][slot] = {"type": m.group(2)}
            elif section == "Data segments":
                slot = ("segment", int(m.group(1)))
            else:
                slot = None
            continue
        m = re.match(r"^([\w ]+):\s*(.*)$", stripped)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if section == "Data segments" and slot == ("segment", 0):
            if key == "cipher":
                info["cipher"] = value
            elif key == "sector":
                info["sector_size"] = int(value.split()[0])
        elif section == "Keyslots" and isinstance(slot, int):
            ks = info["keyslots"][slot]
            if key == "Key":
                ks["key_size"] = int(value.split()[0])
                if info["key_size"] is None:
                    info["key_size"] = ks["key_size"]
            elif key == "PBKDF":
                ks["pbkdf"] = value
            elif key == "Time cost":
                ks["time_cost"] = int(value)
            elif key == "Memory":
                ks["memory"] = int(value)
            elif key == "Threads":
                ks["threads"] = int(value)
    if info["version"] == 1:
        if luks1_cipher[0]:
            info["cipher"] = "-".join(c for c in luks1_cipher if c)
        info["sector_size"] = 512
    return info


def parse_status(text):
    """Parse ``cryptsetup status NAME``: ``{active, type, cipher, key_size, device,
    sector_size, flags: [...]}``."""
    info = {"active": False, "type": None, "cipher": None, "key_size": None,
            "device": None, "sector_size": None, "flags": []}
    for line in text.splitlines():
        if re.search(r" is active", line):
            info["active"] = True
        m = re.match(r"^\s+([\w ]+):\s*(.*)$", line)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if key == "type":
            info["type"] = value
        elif key == "cipher":
            info["cipher"] = value
        elif key == "keysize":
            info["key_size"] = int(value.split()[0])
        elif key == "device":
            info["device"] = value
        elif key == "sector size":
            info["sector_size"] = int(value.split()[0])
        elif key == "flags":
            info["flags"] = value.split()
    return info


def header_mismatches(want, dump):
    """Differences that cannot be fixed in place (type, cipher, key size, sector
    size). ``want`` keys that are None are not compared."""
    diffs = []
    if want.get("type") and dump.get("version") is not None:
        have = "luks%d" % dump["version"]
        if have != want["type"]:
            diffs.append("type is %s, requested %s" % (have, want["type"]))
    if want.get("cipher") and dump.get("cipher") and dump["cipher"] != want["cipher"]:
        diffs.append("cipher is %s, requested %s" % (dump["cipher"], want["cipher"]))
    if want.get("key_size") and dump.get("key_size") and dump["key_size"] != want["key_size"]:
        diffs.append("key size is %d bits, requested %d" % (dump["key_size"], want["key_size"]))
    if want.get("sector_size") and dump.get("sector_size") and \
            dump["sector_size"] != want["sector_size"]:
        diffs.append("sector size is %d, requested %d" % (
            dump["sector_size"], want["sector_size"]))
    return diffs


def key_args(keyfile):
    """``--key-file`` for the existing key: the path, or ``-`` (stdin)."""
    return ["--key-file", keyfile or "-"]


def pbkdf_args(want):
    args = ["--pbkdf", want.get("pbkdf") or "argon2id"]
    if want.get("pbkdf_memory"):
        args += ["--pbkdf-memory", str(want["pbkdf_memory"])]
    if want.get("pbkdf_iterations"):
        args += ["--pbkdf-force-iterations", str(want["pbkdf_iterations"])]
    if want.get("pbkdf_parallel"):
        args += ["--pbkdf-parallel", str(want["pbkdf_parallel"])]
    if want.get("iter_time") and not want.get("pbkdf_iterations"):
        args += ["--iter-time", str(want["iter_time"])]
    return args


def format_argv(device, want, keyfile=None):
    argv = ["cryptsetup", "luksFormat", "--batch-mode", "--type", want.get("type") or "luks2",
            "--cipher", want["cipher"], "--key-size", str(want["key_size"]),
            "--hash", want.get("hash") or "sha256"]
    argv += pbkdf_args(want)
    if want.get("label"):
        argv += ["--label", want["label"]]
    if want.get("sector_size"):
        argv += ["--sector-size", str(want["sector_size"])]
    argv += key_args(keyfile) + [device]
    return argv


def flag_args(flags):
    """open/refresh options for the flags dict ``{option: bool}`` (true ones)."""
    return [FLAGS[k][0] for k in sorted(FLAGS) if flags.get(k)]


def open_argv(device, name, flags, persistent, keyfile=None):
    argv = ["cryptsetup", "open", "--type", "luks2"] + flag_args(flags)
    if persistent:
        argv.append("--persistent")
    return argv + key_args(keyfile) + [device, name]


def refresh_argv(name, flags, persistent, keyfile=None):
    argv = ["cryptsetup", "refresh"] + flag_args(flags)
    if persistent:
        argv.append("--persistent")
    return argv + key_args(keyfile) + [name]


def test_key_argv(device, keyfile=None):
    return ["cryptsetup", "open", "--test-passphrase"] + key_args(keyfile) + [device]


def active_flags(status):
    """Flags dict ``{option: bool}`` of an active mapping."""
    return dict((k, v[1] in status["flags"]) for k, v in FLAGS.items())


def header_flags(dump):
    return dict((k, v[2] in dump["flags"]) for k, v in FLAGS.items())


def wanted_flags(params, current):
    """Requested flags; an omitted (None) option keeps the current value."""
    return dict((k, current.get(k, False) if params.get(k) is None else bool(params[k]))
                for k in FLAGS)


@contextlib.contextmanager
def secret_file(data):
    """A 0600 file holding ``data`` (bytes) in a RAM-backed directory (/run or
    /dev/shm when writable), overwritten and removed on exit. Only for
    ``luksAddKey``'s new key, which cannot share stdin with the existing key."""
    directory = None
    for cand in ("/run", "/dev/shm"):
        if os.path.isdir(cand) and os.access(cand, os.W_OK):
            directory = cand
            break
    fd, path = tempfile.mkstemp(prefix=".nh-luks-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.close(fd)
        fd = None
        yield path
    finally:
        if fd is not None:
            os.close(fd)
        try:
            with open(path, "r+b") as f:
                f.write(b"\0" * len(data))
                f.flush()
        except OSError:
            pass
        try:
            os.unlink(path)
        except OSError:
            pass
