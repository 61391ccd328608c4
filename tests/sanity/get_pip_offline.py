"""Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates an empty virtual environment for each sanity test and bootstraps pip
into it with a script it downloads from ci-files.testing.ansible.com, which this
project's machines cannot reach (only the package indexes are). This stand-in does the
same job without that site:

1. it installs the pip wheel bundled with Python (ensurepip, no network);
2. it writes the machine's pip configuration (index, find-links, CA bundle) into the new
   venv's own ``pip.conf``. ansible-test runs pip with a stripped environment, so the
   ``PIP_CERT``/``PIP_INDEX_URL``/``PIP_FIND_LINKS`` variables of the caller never reach
   it; a venv's ``pip.conf`` (pip's "site" configuration) is read whatever the
   environment. The settings come from ``pip-offline.conf`` next to this script, which
   ``scripts/gates.sh sanity`` writes from ``pip config list`` of the calling shell
   (``--write-config PATH``);
3. it lets that pip install what ansible-test asked for (the pinned pip version).

ensurepip sets ``PIP_CONFIG_FILE=/dev/null`` in ``os.environ`` (pip then reads no
configuration file at all), so step 3 runs with the environment as it was before step 1.
Without that, the pip of step 3 ignores even ``/etc/pip.conf`` and fails with
CERTIFICATE_VERIFY_FAILED behind a TLS-inspecting proxy.

scripts/gates.sh copies this file to ~/.ansible/test/cache/get_pip_<version>.py, where
ansible-test looks before it downloads.
"""
import configparser
import ensurepip
import os
import subprocess
import sys

CONFIG_NAME = "pip-offline.conf"


def write_config(path):
    """Writes the calling environment's effective pip configuration as an ini file."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                         check=True, capture_output=True, text=True).stdout
    conf = configparser.ConfigParser(interpolation=None)
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        section, _sep, option = key.rpartition(".")
        # ":env:" entries are PIP_* variables; they apply to every command, like [global].
        section = "global" if section in ("", ":env:") else section
        if not conf.has_section(section):
            conf.add_section(section)
        conf.set(section, option, value.strip().strip("'\""))
    with open(path, "w", encoding="utf-8") as f:
        conf.write(f)
    print(f"pip configuration for ansible-test venvs: {path}")


def main(argv):
    if argv[:1] == ["--write-config"]:
        write_config(argv[1])
        return 0
    saved = dict(os.environ)
    ensurepip.bootstrap(upgrade=False, default_pip=True)
    os.environ.clear()
    os.environ.update(saved)
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME)
    if os.path.exists(source):
        with open(source, encoding="utf-8") as src, \
                open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as dst:
            dst.write(src.read())
    args = [a for a in argv if a not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
