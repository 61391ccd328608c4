# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The one command runner of the storage modules, their plan type and their main body.

Every external command (``blkid``, ``wipefs``, ``sgdisk``, ``cryptsetup``, ``zpool``,
``zfs`` ...) goes through :class:`Runner`. It

* forces ``LANG=C LC_ALL=C LC_MESSAGES=C`` so that parsers see untranslated output;
* passes secrets only on stdin, as the exact bytes given (no trailing newline is
  added), and refuses to run if a secret also appears in argv; a command without
  data reads /dev/null, never the module's own stdin;
* returns a :class:`Result` (``rc``, ``out``, ``err``) and, unless ``check_rc=False``,
  raises :class:`CommandError` carrying the command line and stderr when ``rc != 0``.

Modules build ``Runner(module)`` (it uses ``AnsibleModule.run_command``); scripts and
tests without a module use ``Runner()`` (plain :mod:`subprocess`). Unit tests use
``tests/unit/storage/fakerunner.FakeRunner``, a subclass that only overrides
:meth:`Runner._exec`, so environment handling, secret checks and error raising are
the real code under test.

The storage modules share one shape. Each has an ``execute(params, check_mode,
runner, fs)`` that reads, decides and writes, and whose writes are :class:`Action` s:
collected in a :class:`Plan` and applied by :meth:`Plan.apply` (``zpool``,
``zfs_dataset``, ``zfs_snapshot``, ``gpt_partitions``), or run one by one with :meth:`Action.run` where a
decision needs the outcome of the previous write (``luks_device``: a key test on a
container just formatted). In check mode an action runs its dry run (``check_argv``:
``zpool create -n``, ``sgdisk --pretend``) or nothing. :func:`run_module` is every
module's ``main()`` body; the result key ``commands`` lists every command that ran,
reads and dry runs included, as shell-quoted strings.

Typical use::

    runner = Runner(module)
    res = runner.run(["blkid", "-p", "-o", "export", dev], check_rc=False)
    runner.run(["cryptsetup", "luksFormat", "--batch-mode", "--key-file", "-", dev],
               stdin=passphrase_bytes)
"""

from __future__ import annotations

import os
import shlex
import subprocess

C_ENV = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}


class Result(object):
    """Outcome of one command: ``rc`` (int), ``out`` and ``err`` (text)."""

    __slots__ = ("rc", "out", "err", "argv")

    def __init__(self, rc, out, err, argv=()):
        self.rc = rc
        self.out = out
        self.err = err
        self.argv = tuple(argv)

    def __iter__(self):  # allows ``rc, out, err = runner.run(...)``
        return iter((self.rc, self.out, self.err))

    def __repr__(self):
        return "Result(rc=%r, out=%r, err=%r)" % (self.rc, self.out, self.err)


class CommandError(Exception):
    """A command exited non-zero (or could not start).

    ``str(exc)`` is a message fit for ``fail_json``: the command line (never stdin)
    and its stderr. Attributes: ``argv``, ``rc``, ``out``, ``err``.
    """

    def __init__(self, argv, rc, out, err, msg=None):
        self.argv = tuple(argv)
        self.rc = rc
        self.out = out
        self.err = err
        detail = (err or "").strip() or (out or "").strip() or "(no output)"
        text = msg or "command failed (rc=%s): %s" % (rc, cmdline(argv))
        Exception.__init__(self, "%s: %s" % (text, detail))

    def to_fail_kwargs(self):
        """Keyword arguments for ``module.fail_json(**exc.to_fail_kwargs())``."""
        return {"msg": str(self), "cmd": cmdline(self.argv), "rc": self.rc,
                "stdout": self.out, "stderr": self.err}


def cmdline(argv):
    """Shell-quoted rendering of argv, for messages."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def _to_bytes(data):
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    return data.encode("utf-8")


def _detach_stdin():
    """Point the module process's stdin at /dev/null. ``run_command`` gives a command a
    pipe only when there is data to send; without data the command inherits the
    module's stdin, and ``cryptsetup --key-file -`` would read whatever that is. With
    this every command reads either its exact data or an immediate end of file."""
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        if fd != 0:
            os.dup2(fd, 0)
    finally:
        if fd != 0:
            os.close(fd)


class Runner(object):
    """Runs commands with a C locale; secrets via stdin only.

    :param module: an ``AnsibleModule`` (uses its ``run_command``) or ``None``
        (uses :mod:`subprocess`).
    :param log: optional list; when given, every executed argv (a tuple) is appended,
        which modules return as ``commands`` for debugging. stdin is never logged.
    """

    def __init__(self, module=None, log=None):
        self.module = module
        self.log = log
        if module is not None:
            _detach_stdin()

    # -- public API ---------------------------------------------------------------
    def run(self, argv, stdin=None, check_rc=True, secrets=(), ok_rcs=(0,)):
        """Run ``argv`` (a list; never a shell string).

        :param stdin: bytes or text fed to the command exactly as given (no newline is
            appended). Use this for passphrases.
        :param secrets: extra values that must not appear in argv (``stdin`` is always
            checked). A violation raises ``ValueError`` before anything runs.
        :param check_rc: raise :class:`CommandError` when rc is not in ``ok_rcs``.
        :returns: :class:`Result`.
        """
        if isinstance(argv, (str, bytes)):
            raise TypeError("Runner.run needs an argv list, not a string")
        argv = [str(a) for a in argv]
        data = _to_bytes(stdin)
        for secret in ([data] if data else []) + [_to_bytes(s) for s in secrets if s]:
            for arg in argv:
                raw = arg.encode("utf-8")
                # exact match always; substring only for secrets long enough that a
                # hit cannot be a coincidence ("x" is in "/dev/sdx")
                if raw == secret or (len(secret) >= 8 and secret in raw):
                    raise ValueError(
                        "refusing to run %s: a secret would appear in argv" % argv[0])
        if self.log is not None:
            self.log.append(tuple(argv))
        rc, out, err = self._exec(argv, data)
        res = Result(rc, out, err, argv)
        if check_rc and rc not in ok_rcs:
            raise CommandError(argv, rc, out, err)
        return res

    def __call__(self, argv, **kw):
        return self.run(argv, **kw)

    # -- the seam (FakeRunner overrides only this) ----------------------------------
    def _exec(self, argv, data):
        """Execute and return ``(rc, out, err)`` as text. ``data`` is bytes or None."""
        if self.module is not None:
            rc, out, err = self.module.run_command(
                argv, data=data, binary_data=True, environ_update=dict(C_ENV),
                check_rc=False, expand_user_and_vars=False)
            return rc, out, err
        env = dict(os.environ)
        env.update(C_ENV)
        # Only without an AnsibleModule (Runner() in scripts and tests); modules take the
        # run_command branch above.
        try:
            proc = subprocess.run(  # pylint: disable=ansible-bad-function
                argv, input=data if data is not None else b"", check=False,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            return 127, "", "%s: %s" % (argv[0], exc)
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))


class Action(object):
    """One write of a plan.

    ``argv`` runs for real; ``check_argv`` (if not None) is a dry run that writes
    nothing (``-n``, ``--pretend``) and that check mode runs instead; ``stdin`` is the
    secret fed on stdin (never part of argv, never shown by ``repr``); ``ok_rcs`` are
    the exit codes that count as success; ``description`` says what the write does.
    """

    __slots__ = ("argv", "description", "check_argv", "stdin", "ok_rcs")

    def __init__(self, argv, description, check_argv=None, stdin=None, ok_rcs=(0,)):
        self.argv = list(argv)
        self.description = description
        self.check_argv = list(check_argv) if check_argv else None
        self.stdin = stdin
        self.ok_rcs = tuple(ok_rcs)

    def run(self, runner, check_mode):
        """Run the write, or in check mode its dry run (if any). Returns the
        :class:`Result`, or None when nothing ran."""
        if check_mode:
            return runner.run(self.check_argv) if self.check_argv else None
        return runner.run(self.argv, stdin=self.stdin, ok_rcs=self.ok_rcs)

    def __eq__(self, other):
        return isinstance(other, Action) and (self.argv, self.check_argv, self.stdin) == (
            other.argv, other.check_argv, other.stdin)

    def __repr__(self):
        return "Action(%r)" % (self.argv,)


class Plan(object):
    """What a module decided: the writes in order, and ``before``/``after`` for diff
    mode. ``changed`` is whether there is any write."""

    def __init__(self, actions=None, before=None, after=None):
        self.actions = list(actions or [])
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}

    @property
    def changed(self):
        return bool(self.actions)

    @property
    def commands(self):
        return [a.argv for a in self.actions]

    def apply(self, runner, check_mode):
        """Run every action in order (their dry runs in check mode)."""
        for action in self.actions:
            action.run(runner, check_mode)


def _fail_details(exc, params, echo):
    details = dict((k, params[k]) for k in echo)
    if hasattr(exc, "signatures"):  # _blockdev.DataSafetyError: what was found where
        details.update(device=exc.device, signatures=[s.as_dict() for s in exc.signatures])
    return details


def run_module(module, execute, user_errors, devfs, runner_class=None, echo=()):
    """The main() body of every storage module: run ``execute(params, check_mode,
    runner, devfs)`` through one runner (``runner_class``, default Runner), turn
    ``user_errors`` and CommandError into fail_json (with the parameters named in
    ``echo`` and, for a refused device, what was found on it), return the diff only in
    diff mode, and always report the commands run."""
    log = []
    runner = (runner_class or Runner)(module, log=log)
    try:
        result = execute(module.params, module.check_mode, runner, devfs)
    except user_errors as exc:
        module.fail_json(msg=str(exc), commands=[cmdline(c) for c in log],
                         **_fail_details(exc, module.params, echo))
    except CommandError as exc:
        module.fail_json(commands=[cmdline(c) for c in log], **exc.to_fail_kwargs())
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    result["commands"] = [cmdline(c) for c in log]
    module.exit_json(**result)
