"""A stand-in for `ssh ... <initrd>` in the unit tests of the unlock conversation: it
plays the remote side of remote_script() for one scenario and records what it was sent.

    python fake_initrd.py SCENARIO RECORD_FILE [ignored remote command]
"""
import os
import sys
import time

scenario, record = sys.argv[1], sys.argv[2]
got = []


def say(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def read_line():
    line = sys.stdin.readline()
    got.append(line)
    return line.rstrip("\n")


try:
    if scenario == "host_key":
        sys.stderr.write("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n"
                         "Host key verification failed.\n")
        sys.exit(255)
    if scenario == "refused":
        sys.stderr.write("ssh: connect to host 127.0.0.9 port 2222: Connection refused\n")
        sys.exit(255)
    # anything sent before the question would be visible here (time for it to arrive)
    time.sleep(0.3)
    os.set_blocking(0, False)
    try:
        early = os.read(0, 4096).decode()
    except BlockingIOError:
        early = ""
    os.set_blocking(0, True)
    got.append("EARLY:" + early)
    say("NH-STATE:ready\r\n")
    if scenario == "already":
        say("NH-STATE:already\r\n")
        sys.exit(0)
    say("NH-STATE:asked\r\n")
    # systemd 252's prompt, as systemd-tty-ask-password-agent prints it
    say("\x1b[0;1;39mPlease enter passphrase for disk rpool-luks (cryptroot): "
        "(press TAB for no echo) \x1b[0m")
    pw = read_line()
    if scenario == "echo":  # a terminal that echoed the passphrase back
        say(pw + "\r\n")
    say("NH-STATE:answered\r\n")
    if scenario == "closed":
        sys.exit(255)
    if pw == "right-passphrase":
        say("NH-STATE:unlocked\r\n")
        sys.exit(0)
    say("NH-STATE:asked-again\r\n")
    sys.exit(3)
finally:
    with open(record, "w") as f:
        f.write("".join(got))
