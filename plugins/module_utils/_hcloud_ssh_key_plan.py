# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure helpers for Hetzner Cloud SSH keys (module ``hcloud_ssh_key``).

One job: put public keys into one comparable form and plan the key. A key is compared by
its type and base64 body; the trailing comment is ignored, because the API keeps the key
as uploaded and a comment is not part of the key. No API calls here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import plan_simple

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
             "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss")


def parse_public_key(text):
    """``(type, base64 body, problem)`` of an OpenSSH public key line."""
    if not text or not str(text).strip():
        return None, None, "public_key is empty"
    parts = str(text).strip().split()
    if len(parts) < 2:
        return None, None, ("public_key must be an OpenSSH public key line such as "
                            "'ssh-ed25519 AAAA... comment'")
    ktype, body = parts[0], parts[1]
    if ktype not in KEY_TYPES:
        return None, None, "public_key type %r is not one of %s" % (ktype, ", ".join(KEY_TYPES))
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None, None, "public_key body is not valid base64"
    # The blob starts with the key type as a length-prefixed string.
    if len(raw) < 4 or raw[4:4 + int.from_bytes(raw[:4], "big")].decode("ascii", "replace") != ktype:
        return None, None, "public_key body does not match its type %s" % ktype
    return ktype, body, None


def canonical_key(text):
    """``"type base64"`` (no comment), or ``None`` if the text is not a valid key."""
    ktype, body, problem = parse_public_key(text)
    return None if problem else "%s %s" % (ktype, body)


def fingerprint(text):
    """MD5 fingerprint in the colon form the Hetzner API reports."""
    ktype, body, problem = parse_public_key(text)
    if problem:
        return None
    digest = hashlib.md5(base64.b64decode(body), usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def observe_ssh_key(data):
    if data is None:
        return None
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "public_key": canonical_key(data.get("public_key")) or data.get("public_key"),
        "fingerprint": data.get("fingerprint"),
        "labels": dict(data.get("labels") or {}),
    }


def plan_ssh_key(observed, desired, state):
    """Plan for one key: labels are updated in place; a different public key under the same
    name is a conflict (the API cannot change a key: delete it and create it again)."""
    want = dict(desired)
    if want.get("public_key") is not None:
        want["public_key"] = canonical_key(want["public_key"])
    plan = plan_simple(observed, want, state, updatable=("labels",), immutable=("public_key",))
    if plan.conflicts:
        plan.conflicts = ["ssh key %s holds a different public key (fingerprint %s, requested %s); "
                          "a key cannot be changed in place: remove it with state: absent, then "
                          "create it again" % (observed["name"], observed.get("fingerprint"),
                                               fingerprint(desired.get("public_key")))]
    if plan.op == "create" and not want.get("public_key"):
        plan.conflicts.append("public_key is required to create ssh key %s" % desired["name"])
    return plan
