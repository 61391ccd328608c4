# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The unlock conversation with a systemd stage 1 over SSH, as the initrd_unlock module
holds it.

The protocol is NixOS's systemd initrd (and the lab stand-in's): systemd-cryptsetup asks
for the passphrase through systemd's ask-password files, and whoever logs in to the
initrd's sshd answers with ``systemd-tty-ask-password-agent --query``. This module adds
what a bare ``ssh -tt ... systemd-tty-ask-password-agent`` lacks:

* the host key is pinned (``StrictHostKeyChecking=yes`` against a known_hosts file),
  and the passphrase is written only after the remote side has said that it is an
  initrd waiting for a passphrase, so a host with another key never sees it;
* the remote terminal's echo is off before the passphrase is sent, so it cannot come
  back in the output, and the output is scrubbed of it anyway;
* the remote side reports what happened: unlocked, asked again (a wrong passphrase),
  already open, or no question;
* connection failures while the initrd boots are retried until a deadline; host-key and
  authentication failures are final.

The pure parts (``remote_script``, ``states``, ``classify_ssh_failure``, ``decide``) are
unit-tested with canned outputs; ``Conversation`` is the one seam that runs ``ssh``.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import time

MARK = "NH-STATE:"
# systemd's prompt, e.g. "Please enter passphrase for disk rpool-luks (cryptroot): (press
# TAB for no echo)"; anything that asks for a passphrase or password counts.
PROMPT_RE = re.compile(r"(?i)(passphrase|password)")

# ssh's words for failures that retrying cannot mend
HOST_KEY_ERRORS = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                   "host key for", "No ED25519 host key is known")
AUTH_ERRORS = ("Permission denied",)


def remote_script(names, question_wait, answer_wait):
    """The POSIX shell script run in the initrd. It prints ``NH-STATE:<state>`` lines:
    ready, already, asked, answered, unlocked, asked-again, no-question, undecided."""
    names_q = " ".join(shlex.quote(n) for n in names)
    return f"""stty -echo 2>/dev/null
echo {MARK}ready
names={shlex.quote(names_q)}
all_open() {{ for n in $names; do [ -e "/dev/mapper/$n" ] || return 1; done; return 0; }}
pending() {{ ls /run/systemd/ask-password 2>/dev/null | grep '^ask\\.' ; }}
if all_open; then echo {MARK}already; exit 0; fi
i=0
while [ -z "$(pending)" ]; do
  if all_open; then echo {MARK}already; exit 0; fi
  i=$((i + 1)); if [ "$i" -ge {int(question_wait)} ]; then echo {MARK}no-question; exit 4; fi
  sleep 1
done
before=" $(pending | tr '\\n' ' ') "
echo {MARK}asked
systemd-tty-ask-password-agent --query
echo {MARK}answered
i=0
while :; do
  if all_open; then echo {MARK}unlocked; exit 0; fi
  for q in $(pending); do
    case "$before" in *" $q "*) ;; *) echo {MARK}asked-again; exit 3 ;; esac
  done
  i=$((i + 1)); if [ "$i" -ge {int(answer_wait)} ]; then echo {MARK}undecided; exit 5; fi
  sleep 1
done
"""


def probe_script(names):
    """Check mode: say whether the initrd waits for a passphrase, answer nothing."""
    names_q = " ".join(shlex.quote(n) for n in names)
    return f"""echo {MARK}ready
names={shlex.quote(names_q)}
for n in $names; do [ -e "/dev/mapper/$n" ] || {{
  if ls /run/systemd/ask-password 2>/dev/null | grep -q '^ask\\.'; then echo {MARK}asked-probe
  else echo {MARK}no-question; fi
  exit 0; }}
done
echo {MARK}already
"""


def states(out):
    """The NH-STATE words in the order the script printed them."""
    return re.findall(re.escape(MARK) + r"([a-z-]+)", out)


def classify_ssh_failure(err):
    """'host_key', 'auth' or 'connection' (retryable) for an ssh that failed before the
    remote script said anything."""
    if any(e in err for e in HOST_KEY_ERRORS):
        return "host_key"
    if any(e in err for e in AUTH_ERRORS):
        return "auth"
    return "connection"


def decide(rc, out, err):
    """What one conversation came to: (outcome, detail).

    outcome is one of unlocked, already, wrong_passphrase, no_question, undecided,
    closed_after_answer (the initrd went away after the answer: it usually switched
    root), host_key, auth, connection (retry), failed."""
    seen = states(out)
    last = seen[-1] if seen else None
    if last == "unlocked":
        return "unlocked", ""
    if last == "already":
        return "already", ""
    if last == "asked-again":
        return "wrong_passphrase", ""
    if last == "no-question":
        return "no_question", ""
    if last == "undecided":
        return "undecided", ""
    if last == "asked-probe":
        return "would_unlock", ""
    if last in ("asked", "answered") and rc == 255:
        return ("closed_after_answer" if last == "answered" else "connection"), err.strip()
    if not seen:
        return classify_ssh_failure(err), err.strip()
    return "failed", (err.strip() or "the initrd's shell exited with %d" % rc)


def scrub(text, secret):
    """text without any occurrence of the secret (bytes or str)."""
    if not secret:
        return text
    s = secret.decode(errors="replace") if isinstance(secret, bytes) else secret
    return text.replace(s, "********") if s else text


def ssh_argv(host, port, user, known_hosts, key_file=None, connect_timeout=15, extra=()):
    argv = ["ssh", "-tt", "-p", str(port),
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=%s" % known_hosts,
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=%d" % connect_timeout,
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR"]
    if key_file:
        argv += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
    argv += list(extra)
    return argv + ["%s@%s" % (user, host)]


class Conversation(object):
    """One ssh session to the initrd: runs the remote script and writes the passphrase
    after each passphrase prompt that follows ``NH-STATE:asked`` (never before)."""

    def __init__(self, argv, passphrase, timeout, max_answers=8, popen=subprocess.Popen):
        self.argv = argv
        self.passphrase = passphrase if isinstance(passphrase, bytes) else passphrase.encode()
        self.timeout = timeout
        self.max_answers = max_answers
        self.popen = popen
        self.answers = 0

    def run(self, script, send=True):
        # An interactive session (each password prompt is answered when it appears), which
        # AnsibleModule.run_command cannot hold.
        proc = self.popen(self.argv + ["sh -c %s" % shlex.quote(script)],  # pylint: disable=ansible-bad-function
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=dict(os.environ, LANG="C", LC_ALL="C"))
        out, err = b"", b""
        since_answer = ""
        deadline = time.monotonic() + self.timeout
        streams = [proc.stdout, proc.stderr]
        try:
            while streams:
                left = deadline - time.monotonic()
                if left <= 0:
                    proc.kill()
                    break
                ready, _writable, _errors = select.select(streams, [], [], min(left, 1.0))
                for s in ready:
                    chunk = os.read(s.fileno(), 4096)
                    if not chunk:
                        streams.remove(s)
                        continue
                    if s is proc.stderr:
                        err += chunk
                        continue
                    out += chunk
                    since_answer += chunk.decode(errors="replace")
                    asked = "asked" in states(out.decode(errors="replace"))
                    # a terminal that echoes the answer back must not read as a new prompt
                    # (a passphrase may well contain the word "passphrase")
                    prompt = scrub(since_answer, self.passphrase).split(MARK + "asked", 1)[-1]
                    if (send and asked and self.answers < self.max_answers
                            and PROMPT_RE.search(prompt)):
                        try:
                            proc.stdin.write(self.passphrase + b"\n")
                            proc.stdin.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            send = False  # the remote side has gone: what it said decides
                            continue
                        self.answers += 1
                        since_answer = ""
            rc = proc.wait(timeout=30)
        finally:
            for f in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    f.close()
                except Exception:
                    pass
        text = scrub(out.decode(errors="replace").replace("\r", ""), self.passphrase)
        return rc, text, scrub(err.decode(errors="replace"), self.passphrase)
