"""A fake HTTP transport for the hcloud library: a scripted table of expected requests.

Each entry is ``(method, path, status, body, headers)``; ``path`` is matched against the URL
path after the endpoint (query strings are compared through ``params`` if given as a dict
in a 6th element). Any request that is not the next one expected fails the test.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

ENDPOINT = "http://127.0.0.1:9/v1"


def response(status, body=None, headers=None):
    resp = requests.Response()
    resp.status_code = status
    resp._content = b"" if body is None else json.dumps(body).encode()
    resp.headers = CaseInsensitiveDict(headers or {})
    resp.reason = {200: "OK", 201: "Created", 429: "Too Many Requests", 423: "Locked",
                   500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "X")
    return resp


def error(status, code, message="error", headers=None):
    return response(status, {"error": {"code": code, "message": message, "details": {}}}, headers)


class FakeSession(object):
    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, headers=None, params=None, json=None, timeout=None, **kw):
        path = urlsplit(url).path
        assert path.startswith("/v1"), url
        path = path[3:]
        self.calls.append((method, path, params, json))
        assert self.script, "unexpected request %s %s (script exhausted)" % (method, path)
        entry = self.script.pop(0)
        exp_method, exp_path, result = entry[0], entry[1], entry[2]
        assert (method, path) == (exp_method, exp_path), \
            "expected %s %s, got %s %s" % (exp_method, exp_path, method, path)
        if len(entry) > 3 and entry[3] is not None:
            entry[3](params, json)
        if isinstance(result, BaseException):
            raise result
        return result

    def mount(self, *a, **kw):
        pass

    def close(self):
        pass


def make_fake_client(script, deadline=30.0):
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _hcloud_client as hc
    session = FakeSession(script)
    client = hc.make_client({"api_token": "t0k3n", "api_endpoint": ENDPOINT}, deadline=deadline,
                            session=session)
    sleeps = []
    client.nh_transport._sleep = sleeps.append
    return client, session, sleeps
