"""The unlock conversation (plugins/module_utils/_initrd_unlock.py): the decision table,
and the conversation against a fake initrd process (tests/unit/base/fake_initrd.py) that
records what it was sent and when."""
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _initrd_unlock as u

FAKE = str(Path(__file__).with_name("fake_initrd.py"))


@pytest.mark.parametrize("rc,out,err,outcome", [
    (0, "NH-STATE:ready\nNH-STATE:asked\nNH-STATE:answered\nNH-STATE:unlocked\n", "", "unlocked"),
    (0, "NH-STATE:ready\nNH-STATE:already\n", "", "already"),
    (3, "NH-STATE:ready\nNH-STATE:asked\nNH-STATE:answered\nNH-STATE:asked-again\n", "", "wrong_passphrase"),
    (4, "NH-STATE:ready\nNH-STATE:no-question\n", "", "no_question"),
    (5, "NH-STATE:ready\nNH-STATE:asked\nNH-STATE:answered\nNH-STATE:undecided\n", "", "undecided"),
    (255, "NH-STATE:ready\nNH-STATE:asked\nNH-STATE:answered\n", "Connection closed", "closed_after_answer"),
    (255, "NH-STATE:ready\nNH-STATE:asked\n", "Connection reset", "connection"),
    (255, "", "Host key verification failed.\n", "host_key"),
    (255, "", "root@127.0.0.9: Permission denied (publickey).\n", "auth"),
    (255, "", "kex_exchange_identification: Connection closed by remote host\n", "connection"),
    (255, "", "ssh: connect to host 127.0.0.9 port 2222: Connection refused\n", "connection"),
    (0, "NH-STATE:ready\nNH-STATE:asked-probe\n", "", "would_unlock"),
    (1, "NH-STATE:ready\n", "sh: stty: not found", "failed"),
])
def test_decide(rc, out, err, outcome):
    assert u.decide(rc, out, err)[0] == outcome


def test_scrub_removes_the_secret():
    assert u.scrub("a s3cret b s3cret", b"s3cret") == "a ******** b ********"
    assert u.scrub("nothing", b"") == "nothing"


def test_ssh_argv_pins_the_key_and_never_holds_the_secret():
    argv = u.ssh_argv("127.0.0.9", 2222, "root", "/k/initrd_known_hosts", "/k/id")
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/k/initrd_known_hosts" in argv
    assert "GlobalKnownHostsFile=/dev/null" in argv and argv[-1] == "root@127.0.0.9"


def test_remote_script_is_valid_posix_sh():
    script = u.remote_script(["cryptroot", "tank-crypt"], 60, 90)
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    assert "systemd-tty-ask-password-agent --query" in script
    probe = u.probe_script(["cryptroot"])
    assert subprocess.run(["sh", "-n", "-c", probe]).returncode == 0
    assert "ask-password-agent" not in probe


def talk(tmp_path, scenario, passphrase="right-passphrase", send=True):
    record = tmp_path / "sent.txt"
    conv = u.Conversation([sys.executable, FAKE, scenario, str(record)], passphrase, timeout=30)
    rc, out, err = conv.run("ignored", send=send)
    return u.decide(rc, out, err), out, record.read_text() if record.exists() else "", conv


def test_right_passphrase_unlocks_and_is_sent_only_after_the_question(tmp_path):
    (outcome, _), out, sent, conv = talk(tmp_path, "unlocked")
    assert outcome == "unlocked" and conv.answers == 1
    # nothing arrived before the question; the passphrase came once, after it
    assert sent == "EARLY:right-passphrase\n"
    assert "right-passphrase" not in out


def test_wrong_passphrase_is_reported(tmp_path):
    (outcome, _), _, sent, _ = talk(tmp_path, "wrong", passphrase="wrong-passphrase")
    assert outcome == "wrong_passphrase" and "wrong-passphrase" in sent


def test_an_echoed_passphrase_is_scrubbed(tmp_path):
    (outcome, _), out, _, _ = talk(tmp_path, "echo")
    assert outcome == "unlocked" and "right-passphrase" not in out and "********" in out


def test_host_key_mismatch_sends_nothing(tmp_path):
    (outcome, detail), _, sent, conv = talk(tmp_path, "host_key")
    assert outcome == "host_key" and conv.answers == 0 and "right-passphrase" not in sent
    assert "Host key verification failed" in detail


def test_refused_is_retryable_and_sends_nothing(tmp_path):
    (outcome, _), _, sent, conv = talk(tmp_path, "refused")
    assert outcome == "connection" and conv.answers == 0 and sent == ""


def test_connection_closed_after_the_answer(tmp_path):
    (outcome, _), _, _, _ = talk(tmp_path, "closed")
    assert outcome == "closed_after_answer"


def test_check_mode_never_answers(tmp_path):
    (outcome, _), _, sent, conv = talk(tmp_path, "already", send=False)
    assert outcome == "already" and conv.answers == 0 and "passphrase" not in sent


def test_an_echoed_passphrase_is_not_a_new_prompt(tmp_path):
    """The echo of an answer that contains the word "passphrase" used to count as a second
    prompt: a second answer was written, into a pipe the remote side may already have
    closed (BrokenPipeError, seen as a flaky failure under load)."""
    (outcome, _), _, _, conv = talk(tmp_path, "echo")
    assert outcome == "unlocked" and conv.answers == 1


def test_a_remote_side_gone_before_the_answer_is_not_a_crash(tmp_path):
    """A pipe closed under the answer ends the conversation; the outcome comes from what
    the remote side said, not from an exception."""
    conv = u.Conversation([sys.executable, "-c",
                           "import os, sys; os.close(0); "
                           "print('NH-STATE:ready\\nNH-STATE:asked\\nPlease enter passphrase: ', flush=True)"],
                          "right-passphrase", timeout=30)
    rc, out, err = conv.run("ignored")
    assert u.decide(rc, out, err)[0] in ("failed", "connection") and "right-passphrase" not in out
