# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Hetzner Cloud client construction, common options, retries and error translation.

One job: give a module a ready ``hcloud.Client`` whose every request (made through the
library, either ``client.servers.…`` or ``client.request(method, url, …)``) goes through
one retry policy, and turn every failure into an :class:`HcloudError` that carries
``msg``, ``code`` and ``details`` for ``fail_json``.

Retry policy (replaces the library's own retries, which are switched off so that nothing
is retried twice):

* ``429 rate_limit_exceeded``: sleep until the ``RateLimit-Reset`` header of that very
  response (a UNIX timestamp; ``Retry-After`` is honoured too), then retry.
* ``423 locked`` and ``409 conflict``: the API rejected the request without doing
  anything; retry with capped exponential backoff.
* ``5xx``, read timeouts and connection errors: retry with backoff, except for a *create*
  (a ``POST`` to a collection such as ``/servers``): its outcome is unknown (the resource
  may exist although the answer was lost), so :class:`HcloudAmbiguousCreate` is raised and
  the caller resolves it by listing by name before it tries again (see
  :func:`create_or_adopt`). Actions (``POST …/actions/…``), ``PUT`` and
  ``DELETE`` are retried: repeating them has the same effect as doing them once.
* All retries of one call stop at a deadline (``RETRY_DEADLINE`` seconds).

Usage::

    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import (
        hcloud_argument_spec, make_client, HcloudError)

    spec = dict(hcloud_argument_spec(), name=dict(type="str", required=True))
    module = AnsibleModule(spec, supports_check_mode=True)
    client = make_client(module.params)          # raises HcloudError on a missing token
    data = client.request("GET", "/servers", params={"name": "web1"})
"""

from __future__ import annotations

import random
import threading
import time

# The hcloud library this collection needs, exactly as requirements.txt states it (the one
# place the version is kept; tests/unit/hcloud/test_hcloud_requirement.py holds the docs and
# this constant to it).
HCLOUD_REQUIREMENT = "hcloud>=2.27.0,<3"

try:
    import requests
    from requests.adapters import HTTPAdapter
    from hcloud import Client, APIException
    from hcloud.actions.domain import ActionException

    HAS_HCLOUD = True
    HCLOUD_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_HCLOUD = False
    HCLOUD_IMPORT_ERROR = exc

    class APIException(Exception):  # type: ignore[no-redef]
        """Stand-in without hcloud (the modules then fail early on HAS_HCLOUD)."""

    ActionException = APIException  # type: ignore[misc]

from ansible.module_utils.basic import env_fallback

DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"
#: Give up retrying one request after this many seconds.
RETRY_DEADLINE = 120.0
#: Backoff between retries: BASE * 2**attempt, capped, with jitter.
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
#: Longest sleep for a 429 if RateLimit-Reset is missing or absurd.
RATE_LIMIT_MAX_SLEEP = 60.0
#: How often :func:`create_or_adopt` tries a create whose answer was lost.
CREATE_ATTEMPTS = 4
REQUEST_TIMEOUT = 30.0

_RETRY_CODES = {"locked", "rate_limit_exceeded", "conflict"}
_SERVER_CODES = {"unavailable", "timeout", "maintenance", "server_error", "service_error",
                 "bad_gateway", "robot_unavailable", "internal_server_error"}


def hcloud_argument_spec():
    """The options every hcloud module takes (see doc fragment ``nixos_hetzner.vps.hcloud``).

    Both work through ``module_defaults: {group/nixos_hetzner.vps.hcloud: {...}}``."""
    return dict(
        api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["HCLOUD_TOKEN"])),
        api_endpoint=dict(type="str", fallback=(env_fallback, ["HCLOUD_ENDPOINT"]),
                          default=DEFAULT_ENDPOINT),
    )


class HcloudError(Exception):
    """A failure a module reports with ``fail_json(msg=…, code=…, details=…)``."""

    def __init__(self, msg, code=None, details=None):
        super().__init__(msg)
        self.msg = msg
        self.code = code
        self.details = details if details is not None else {}

    def fail_kwargs(self):
        """The keyword arguments for ``module.fail_json``."""
        return dict(msg=self.msg, code=self.code, details=self.details)


class HcloudAmbiguousCreate(HcloudError):
    """A create request whose outcome is unknown (5xx, timeout or connection lost).

    The resource may or may not exist: look it up by name before creating it again."""


def create_or_adopt(create, find, nothing="nothing was created", attempts=CREATE_ATTEMPTS):
    """Run ``create()``; if its answer was lost (:class:`HcloudAmbiguousCreate`), call
    ``find()`` and return what it finds instead of creating a duplicate; only if nothing
    was created is ``create()`` tried again. ``create`` returns the API's answer, ``find``
    the resource dict or None. A resource adopted through ``find`` comes back as
    ``{"adopted": resource}`` so the caller knows it has no create action to wait for.
    After ``attempts`` lost answers, raise :class:`HcloudError` whose message ends with
    ``nothing`` (what is known not to exist)."""
    last = None
    for _attempt in range(attempts):
        try:
            return create()
        except HcloudAmbiguousCreate as exc:
            last = exc
            found = find()
            if found is not None:
                return {"adopted": found}
    raise HcloudError("%s (gave up after %d attempts; %s)" % (last.msg, attempts, nothing),
                      code=last.code, details=last.details)


def translate_error(exc, context=None):
    """Turn any exception from the hcloud library (or ours) into an :class:`HcloudError`.

    ``context`` (e.g. ``"creating server web1"``) is prefixed to the message."""
    prefix = (context + ": ") if context else ""
    if isinstance(exc, HcloudError):
        if context and not exc.msg.startswith(prefix):
            return exc.__class__(prefix + exc.msg, exc.code, exc.details)
        return exc
    if HAS_HCLOUD and isinstance(exc, APIException):
        details = exc.details
        if isinstance(details, dict) and isinstance(details.get("content"), bytes):
            details = dict(details, content=details["content"].decode("utf-8", "replace")[:2000])
        msg = "Hetzner Cloud API error: %s (%s)" % (exc.message, exc.code)
        return HcloudError(prefix + msg, code=exc.code, details=details or {})
    if HAS_HCLOUD and isinstance(exc, ActionException):
        action = getattr(exc, "action", None)
        err = getattr(action, "error", None) or {}
        command = getattr(action, "command", "?")
        return HcloudError(prefix + "action %s failed: %s" % (command, err.get("message", exc)),
                           code=err.get("code", "action_failed"),
                           details={"action_id": getattr(action, "id", None), "error": err})
    if HAS_HCLOUD and isinstance(exc, requests.exceptions.RequestException):
        return HcloudError(prefix + "cannot reach the Hetzner Cloud API: %s" % exc,
                           code="connection_error", details={"exception": type(exc).__name__})
    return HcloudError(prefix + "%s: %s" % (type(exc).__name__, exc), code="internal_error")


class _RecordingSession(object):
    """Wraps the library's ``requests.Session``: remembers the last response of each thread
    (the retry layer needs its headers) and counts requests."""

    def __init__(self, inner, stats):
        self._inner = inner
        self._stats = stats
        self._tls = threading.local()

    def request(self, method, url, **kwargs):
        self._tls.response = None
        with self._stats["lock"]:
            self._stats["requests"] += 1
        response = self._inner.request(method=method, url=url, **kwargs)
        self._tls.response = response
        if response.status_code == 429:
            with self._stats["lock"]:
                self._stats["rate_limited"] += 1
        return response

    @property
    def last_response(self):
        return getattr(self._tls, "response", None)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _is_create(method, url):
    path = url.split("?", 1)[0].rstrip("/")
    return method.upper() == "POST" and "/actions/" not in path + "/" and not path.endswith("/actions")


def rate_limit_sleep(headers, now=None, cap=RATE_LIMIT_MAX_SLEEP):
    """Seconds to wait after a 429, derived from the answer's headers.

    ``RateLimit-Reset`` is the UNIX time at which the bucket is full again. When
    ``RateLimit-Limit`` and ``RateLimit-Remaining`` are given too, the refill rate follows
    (missing tokens / seconds until reset), and we wait for one to three tokens' worth
    (jittered, so parallel workers do not retry in lock-step) instead of the whole reset
    period; never longer than until the reset itself. ``Retry-After`` is honoured as given."""
    now = time.time() if now is None else now
    headers = headers or {}
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        try:
            return min(cap, max(0.05, float(retry_after)))
        except ValueError:
            pass
    reset = headers.get("RateLimit-Reset")
    if reset is not None:
        try:
            until_reset = max(0.0, float(reset) - now)
        except ValueError:
            until_reset = None
        if until_reset is not None:
            try:
                missing = float(headers.get("RateLimit-Limit")) - float(headers.get("RateLimit-Remaining"))
            except (TypeError, ValueError):
                missing = 0
            if missing >= 1 and until_reset > 0:
                per_token = until_reset / missing
                return min(cap, until_reset, max(0.05, per_token * random.uniform(1.0, 3.0)))
            return min(cap, max(0.05, until_reset))
    return 1.0


def backoff(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP):
    """Capped exponential backoff with jitter in [50 %, 100 %] of the interval."""
    interval = min(cap, base * (2 ** attempt))
    return interval * random.uniform(0.5, 1.0)


class RetryingTransport(object):
    """The retry policy, installed on one ``hcloud.ClientBase`` (see module docstring)."""

    def __init__(self, base, deadline=RETRY_DEADLINE, sleep=time.sleep, clock=time.monotonic):
        self.stats = {"requests": 0, "rate_limited": 0, "retries": 0, "lock": threading.Lock()}
        self._base = base
        self._orig_request = base.request
        self.deadline = deadline
        self._sleep = sleep
        self._clock = clock
        base._retry_max_retries = 0  # the library must not retry on its own as well
        self.session = _RecordingSession(base._session, self.stats)
        base._session = self.session
        base.request = self.request

    def _classify(self, exc):
        """'retry' (rejected, safe to repeat), 'rate' (429), 'server' (outcome unknown) or None."""
        response = self.session.last_response
        status = response.status_code if response is not None else None
        code = exc.code
        if status == 429 or code == "rate_limit_exceeded" or code == 429:
            return "rate"
        # 409 is also uniqueness_error (never retried): go by the error code there.
        if code in _RETRY_CODES or status == 423 or code == 423 or (code == 409 and status == 409):
            return "retry"
        if (status is not None and status >= 500) or code in _SERVER_CODES or \
                (isinstance(code, int) and code >= 500):
            return "server"
        return None

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        give_up = self._clock() + self.deadline
        attempt = 0
        while True:
            try:
                return self._orig_request(method, url, **kwargs)
            except APIException as exc:
                kind = self._classify(exc)
                if kind is None:
                    raise
                if kind == "server" and _is_create(method, url):
                    raise HcloudAmbiguousCreate(
                        "the API answered %s to %s %s; the resource may have been created"
                        % (exc.code, method, url), code=exc.code,
                        details={"method": method, "url": url})
                if kind == "rate":
                    response = self.session.last_response
                    delay = rate_limit_sleep(response.headers if response is not None else {})
                else:
                    delay = backoff(attempt)
                error = exc
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                if _is_create(method, url):
                    raise HcloudAmbiguousCreate(
                        "no answer to %s %s (%s); the resource may have been created"
                        % (method, url, type(exc).__name__), code="timeout",
                        details={"method": method, "url": url})
                delay = backoff(attempt)
                error = exc
            if self._clock() + delay > give_up:
                raise error
            with self.stats["lock"]:
                self.stats["retries"] += 1
            self._sleep(delay)
            attempt += 1


def make_client(params, deadline=RETRY_DEADLINE, pool_size=32, session=None):
    """Build an ``hcloud.Client`` from the module's params, with the retry layer installed.

    ``session`` replaces the HTTP session (unit tests pass a fake transport here).
    The :class:`RetryingTransport` is reachable as ``client.nh_transport`` (stats live in
    ``client.nh_transport.stats``)."""
    if not HAS_HCLOUD:
        raise HcloudError("the Python library 'hcloud' is required: pip install '%s' (the collection's "
                          "requirements.txt; %s)" % (HCLOUD_REQUIREMENT, HCLOUD_IMPORT_ERROR),
                          code="missing_library")
    token = params.get("api_token")
    if not token:
        raise HcloudError(
            "no Hetzner Cloud API token: set the option api_token, the environment variable "
            "HCLOUD_TOKEN, or module_defaults for group/nixos_hetzner.vps.hcloud",
            code="missing_token")
    endpoint = (params.get("api_endpoint") or DEFAULT_ENDPOINT).rstrip("/")
    client = Client(token=token, api_endpoint=endpoint, application_name="nixos_hetzner.vps",
                    application_version="0.1.0", poll_interval=0.5)
    base = client._client
    if session is not None:
        base._session = session
    else:
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        base._session.mount("http://", adapter)
        base._session.mount("https://", adapter)
    client.nh_transport = RetryingTransport(base, deadline=deadline)
    return client


def iter_pages(client, url, key, params=None, per_page=50):
    """GET every page of a list endpoint; returns the list of raw dicts under ``key``."""
    params = dict(params or {})
    params["per_page"] = per_page
    page = 1
    items = []
    while page:
        params["page"] = page
        data = client.request("GET", url, params=params)
        items.extend(data.get(key) or [])
        pagination = (data.get("meta") or {}).get("pagination") or {}
        page = pagination.get("next_page")
    return items
