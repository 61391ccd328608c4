#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unlock a LUKS root over the SSH of a systemd stage 1, with a pinned host key."""

from __future__ import annotations

DOCUMENTATION = r"""
module: initrd_unlock
short_description: Give the LUKS passphrase to a waiting systemd initrd over SSH, host key pinned
version_added: 0.1.0
description:
  - Connects to the SSH server of a booting host's initrd (NixOS's systemd stage 1 with
    C(boot.initrd.network.ssh)), waits until C(systemd-cryptsetup) asks for the passphrase,
    answers it through C(systemd-tty-ask-password-agent --query), and reports whether the
    LUKS mappings O(luks_names) came up.
  - B(Host key pinning.) The connection uses C(StrictHostKeyChecking=yes) against
    O(known_hosts) only. A host that presents another key fails the task and never
    receives the passphrase, which is written only after the initrd's shell has reported
    that a passphrase question is pending.
  - B(Secrets.) The passphrase goes to the remote terminal on stdin after its echo was
    switched off; it is never in argv, and it is scrubbed from everything returned.
  - B(Outcomes.) A wrong passphrase (systemd-cryptsetup asks again) fails with a message
    that says so; nothing on the disk is touched and no key slot changes. A host whose
    mappings are already open, or whose installed system already answers on
    O(system_port) with its pinned key, is reported unchanged.
  - Connection errors while the initrd boots (refused, reset, closed) are retried until
    O(timeout); host key and authentication errors are final.
  - Runs on the controller (C(delegate_to=localhost)); it needs the OpenSSH client.
author: nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes.modes
  - nixos_hetzner.vps.attributes.partial_idempotence
notes:
  - Check mode connects and reports whether the initrd waits for a passphrase, without
    answering it.
  - Idempotence is partial in the sense that a waiting initrd is always answered; once
    unlocked, a second run reports no change.
  - systemd-cryptsetup allows three tries per boot by default; after three wrong
    passphrases the boot fails and the server needs a reboot.
options:
  host:
    description: Address of the server (its public IPv4 or IPv6).
    type: str
    required: true
    version_added: 0.1.0
  name:
    description: The host's name, used in messages. Defaults to O(host).
    type: str
    version_added: 0.1.0
  port:
    description: Port of the initrd's sshd.
    type: int
    default: 2222
    version_added: 0.1.0
  user:
    description: User in the initrd.
    type: str
    default: root
    version_added: 0.1.0
  known_hosts:
    description:
      - A known_hosts file that holds the initrd's pinned host key for C([host]:port) (or
        C(host) for port 22). Nothing else is trusted.
    type: path
    required: true
    version_added: 0.1.0
  private_key:
    description: The SSH private key to log in with. Unset, the SSH client chooses.
    type: path
    version_added: 0.1.0
  passphrase:
    description: The LUKS passphrase.
    type: str
    required: true
    version_added: 0.1.0
  luks_names:
    description:
      - Names of the LUKS mappings (C(/dev/mapper/<name>)) that stage 1 opens with this
        passphrase. The unlock counts as done when all exist.
    type: list
    elements: str
    required: true
    version_added: 0.1.0
  timeout:
    description: Seconds to wait for the initrd's SSH to answer (the boot up to stage 1).
    type: int
    default: 900
    version_added: 0.1.0
  question_timeout:
    description: Seconds to wait, once logged in, for systemd-cryptsetup's question.
    type: int
    default: 120
    version_added: 0.1.0
  answer_timeout:
    description:
      - Seconds to wait after the answer for the mappings to appear (argon2id is slow on
        small servers) or for a second question (a wrong passphrase).
    type: int
    default: 180
    version_added: 0.1.0
  system_port:
    description: Port of the installed system's sshd, probed to see whether it is up already.
    type: int
    default: 22
    version_added: 0.1.0
  system_user:
    description: User to probe the installed system with. Probing is off when unset.
    type: str
    version_added: 0.1.0
  system_known_hosts:
    description:
      - known_hosts file with the installed system's pinned host key. Probing is off when
        unset.
    type: path
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Unlock the root disk after a reboot
  nixos_hetzner.vps.initrd_unlock:
    host: "{{ ansible_host }}"
    name: "{{ inventory_hostname }}"
    known_hosts: "{{ base_secrets_dir }}/{{ inventory_hostname }}/initrd_known_hosts"
    passphrase: "{{ storage_luks_passphrase }}"
    luks_names: [cryptroot]
  delegate_to: localhost
"""

RETURN = r"""
outcome:
  description:
    - unlocked (the passphrase was accepted), closed_after_answer (the initrd went away
      right after the answer, as it does when it switches root), already (the mappings
      were open), running (the installed system answered on O(system_port)),
      would_unlock (in check mode, a question is pending).
  returned: success
  type: str
  sample: unlocked
attempts:
  description: SSH connections made, retries included.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds from the first connection to the outcome.
  returned: always
  type: float
  sample: 41.2
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._initrd_unlock import (
    Conversation, decide, probe_script, remote_script, ssh_argv)

MESSAGES = {
    "host_key": (
        "{name}: the SSH server at {host}:{port} did not present the pinned initrd host "
        "key ({known_hosts}). The passphrase was NOT sent. Either something else answers "
        "on that address (a man in the middle, or another server), or the initrd was "
        "reinstalled with a new key: check the server's console before you trust it. "
        "ssh said: {detail}"),
    "auth": (
        "{name}: the initrd at {host}:{port} refused the SSH key ({detail}). The passphrase "
        "was not sent. Is the key among the host's initrdUnlock.authorizedKeys?"),
    "wrong_passphrase": (
        "{name}: the initrd at {host}:{port} rejected the passphrase: systemd-cryptsetup "
        "asked again. Nothing on the disk was changed and no key slot was touched. Check "
        "the vault's LUKS passphrase for this host and run playbooks/unlock.yml again "
        "(systemd-cryptsetup allows 3 tries per boot; after that, reboot the server)."),
    "no_question": (
        "{name}: logged in to the initrd at {host}:{port}, but no passphrase question came "
        "within {question_timeout}s and the LUKS mappings {luks_names} are not open. Look "
        "at the server's console: stage 1 may have failed before systemd-cryptsetup ran."),
    "undecided": (
        "{name}: the passphrase was given to the initrd at {host}:{port}, but after "
        "{answer_timeout}s the mappings {luks_names} are still not open and nothing asked "
        "again. Look at the server's console."),
    "failed": "{name}: the unlock over the initrd's SSH at {host}:{port} failed: {detail}",
    "timeout": (
        "{name}: no initrd SSH at {host}:{port} within {timeout}s (last: {detail}). Is the "
        "server booting (console), and does the firewall let port {port} in from here?"),
}


def probe_system(p):
    if not (p["system_user"] and p["system_known_hosts"]):
        return False
    import subprocess
    argv = ssh_argv(p["host"], p["system_port"], p["system_user"], p["system_known_hosts"],
                    p["private_key"], connect_timeout=10)
    argv = [a for a in argv if a != "-tt"] + ["true"]
    try:
        # A timeout, which AnsibleModule.run_command does not offer.
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,  # pylint: disable=ansible-bad-function
                              timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def unlock(module):
    p = module.params
    fmt = dict(p, name=p["name"] or p["host"], detail="")
    argv = ssh_argv(p["host"], p["port"], p["user"], p["known_hosts"], p["private_key"])
    # One answer per LUKS device: a prompt beyond that is systemd-cryptsetup asking again
    # (a wrong passphrase), and answering it again would spend its tries.
    conv = Conversation(argv, p["passphrase"],
                        timeout=p["question_timeout"] + p["answer_timeout"] + 60,
                        max_answers=len(p["luks_names"]))
    script = (probe_script(p["luks_names"]) if module.check_mode else
              remote_script(p["luks_names"], p["question_timeout"], p["answer_timeout"]))
    t0 = time.monotonic()
    attempts = 0
    detail = ""
    while True:
        attempts += 1
        rc, out, err = conv.run(script, send=not module.check_mode)
        outcome, detail = decide(rc, out, err)
        done = dict(attempts=attempts, elapsed=round(time.monotonic() - t0, 1))
        if outcome in ("unlocked", "closed_after_answer"):
            module.exit_json(changed=True, outcome=outcome, **done)
        if outcome in ("already",):
            module.exit_json(changed=False, outcome=outcome, **done)
        if outcome == "would_unlock":
            module.exit_json(changed=True, outcome=outcome, **done)
        if outcome != "connection":
            fmt["detail"] = detail
            module.fail_json(msg=MESSAGES[outcome].format(**fmt), outcome=outcome, **done)
        if probe_system(p):
            module.exit_json(changed=False, outcome="running", **done)
        if time.monotonic() - t0 > p["timeout"]:
            fmt["detail"] = detail or "no answer"
            module.fail_json(msg=MESSAGES["timeout"].format(**fmt), outcome="timeout", **done)
        time.sleep(5)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            name=dict(type="str"),
            port=dict(type="int", default=2222),
            user=dict(type="str", default="root"),
            known_hosts=dict(type="path", required=True),
            private_key=dict(type="path"),
            passphrase=dict(type="str", required=True, no_log=True),
            luks_names=dict(type="list", elements="str", required=True),
            timeout=dict(type="int", default=900),
            question_timeout=dict(type="int", default=120),
            answer_timeout=dict(type="int", default=180),
            system_port=dict(type="int", default=22),
            system_user=dict(type="str"),
            system_known_hosts=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["passphrase"]:
        module.fail_json(msg="initrd_unlock: passphrase is empty")
    if not p["luks_names"]:
        module.fail_json(msg="initrd_unlock: luks_names is empty")
    import os
    if not os.path.isfile(p["known_hosts"]):
        module.fail_json(msg="initrd_unlock: known_hosts %r does not exist; without a pinned "
                             "key nothing is sent" % p["known_hosts"])
    unlock(module)


if __name__ == "__main__":
    main()
