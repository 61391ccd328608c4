"""Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates an empty virtual environment for each sanity test and bootstraps pip
into it with a script it downloads from ci-files.testing.ansible.com, which this
project's machines cannot reach (only PyPI is). This stand-in does the same job without
that site: it installs the pip wheel bundled with Python (ensurepip, no network), then
lets that pip install what ansible-test asked for (the pinned pip version and its
infrastructure packages) from the configured package index.

scripts/gates.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py, where
ansible-test looks before it downloads.
"""
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=False, default_pip=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
