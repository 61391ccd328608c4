"""The retry layer and error translation of _hcloud_client, driven through the real hcloud
library with a scripted fake transport."""
from __future__ import annotations

import time

import pytest
import requests

from hcloud_fake_transport import error, make_fake_client, response
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _hcloud_client as hc

SERVERS = {"servers": [], "meta": {"pagination": {"page": 1, "next_page": None}}}


def test_missing_token_is_a_clear_error():
    with pytest.raises(hc.HcloudError) as exc:
        hc.make_client({"api_token": None, "api_endpoint": None})
    assert exc.value.code == "missing_token"
    assert "HCLOUD_TOKEN" in exc.value.msg and "api_token" in exc.value.msg


def test_rate_limit_sleeps_until_reset_header_then_retries():
    reset = int(time.time()) + 3
    client, session, sleeps = make_fake_client([
        ("GET", "/servers", error(429, "rate_limit_exceeded", headers={"RateLimit-Reset": str(reset)})),
        ("GET", "/servers", response(200, SERVERS)),
    ])
    assert client.request("GET", "/servers") == SERVERS
    assert len(sleeps) == 1 and 1.5 < sleeps[0] <= 3.05
    assert client.nh_transport.stats["rate_limited"] == 1
    assert client.nh_transport.stats["requests"] == 2


def test_locked_and_5xx_are_retried_for_reads_and_actions():
    client, session, sleeps = make_fake_client([
        ("POST", "/servers/1/actions/poweron", error(423, "locked")),
        ("POST", "/servers/1/actions/poweron", error(503, "unavailable")),
        ("POST", "/servers/1/actions/poweron", response(201, {"action": {"id": 5, "status": "running"}})),
    ])
    out = client.request("POST", "/servers/1/actions/poweron", json={})
    assert out["action"]["id"] == 5
    assert len(sleeps) == 2 and sleeps[1] >= sleeps[0] * 0.5  # backoff, not a fixed interval
    assert client.nh_transport.stats["retries"] == 2


def test_library_does_not_retry_on_its_own():
    # The library would retry 'conflict' 5 times with sleeps of its own; ours handles it once.
    client, session, sleeps = make_fake_client([
        ("GET", "/servers", error(409, "conflict")),
        ("GET", "/servers", response(200, SERVERS)),
    ])
    client.request("GET", "/servers")
    assert len(session.calls) == 2 and len(sleeps) == 1


def test_uniqueness_error_is_not_retried():
    client, session, sleeps = make_fake_client([
        ("POST", "/servers", error(409, "uniqueness_error", "server name 'a' is already used")),
    ])
    with pytest.raises(Exception) as exc:
        client.request("POST", "/servers", json={"name": "a"})
    assert hc.translate_error(exc.value).code == "uniqueness_error"
    assert len(session.calls) == 1 and sleeps == []


def test_create_with_lost_answer_is_ambiguous_not_retried():
    client, session, sleeps = make_fake_client([
        ("POST", "/servers", error(500, "server_error")),
    ])
    with pytest.raises(hc.HcloudAmbiguousCreate):
        client.request("POST", "/servers", json={"name": "a"})
    assert len(session.calls) == 1 and sleeps == []


def test_create_timeout_is_ambiguous():
    client, session, sleeps = make_fake_client([
        ("POST", "/ssh_keys", requests.exceptions.ReadTimeout("slow")),
    ])
    with pytest.raises(hc.HcloudAmbiguousCreate) as exc:
        client.request("POST", "/ssh_keys", json={"name": "a"})
    assert exc.value.code == "timeout"


def test_create_rejected_with_429_is_retried_safely():
    client, session, sleeps = make_fake_client([
        ("POST", "/servers", error(429, "rate_limit_exceeded", headers={"Retry-After": "1"})),
        ("POST", "/servers", response(201, {"server": {"id": 1}})),
    ])
    assert client.request("POST", "/servers", json={})["server"]["id"] == 1
    assert sleeps == [1.0]


def test_retries_stop_at_the_deadline():
    script = [("GET", "/servers", error(503, "unavailable")) for _ in range(50)]
    client, session, sleeps = make_fake_client(script, deadline=2.0)
    fake_now = [0.0]
    client.nh_transport._clock = lambda: fake_now[0]

    def sleep(s):
        sleeps.append(s)
        fake_now[0] += s
    client.nh_transport._sleep = sleep
    with pytest.raises(Exception) as exc:
        client.request("GET", "/servers")
    err = hc.translate_error(exc.value)
    assert err.code == "unavailable"
    assert sum(sleeps) <= 2.0 and len(session.calls) < 50


def test_non_retryable_error_is_translated_with_code_and_details():
    client, session, sleeps = make_fake_client([
        ("GET", "/servers/7", error(404, "not_found", "server with ID '7' not found")),
    ])
    with pytest.raises(Exception) as exc:
        client.request("GET", "/servers/7")
    err = hc.translate_error(exc.value, "reading server")
    assert err.code == "not_found"
    assert err.msg.startswith("reading server: ") and "not found" in err.msg
    assert set(err.fail_kwargs()) == {"msg", "code", "details"}
    assert sleeps == []


def test_rate_limit_sleep_parsing():
    assert hc.rate_limit_sleep({"RateLimit-Reset": "110"}, now=100) == 10
    # 10 tokens missing, full in 10 s: one token per second; wait 1-3 tokens' worth.
    for _ in range(20):
        d = hc.rate_limit_sleep({"RateLimit-Reset": "110", "RateLimit-Limit": "10",
                                 "RateLimit-Remaining": "0"}, now=100)
        assert 1.0 <= d <= 3.0
    assert hc.rate_limit_sleep({"RateLimit-Reset": "100.5", "RateLimit-Limit": "3600",
                                "RateLimit-Remaining": "0"}, now=100) == 0.05
    assert hc.rate_limit_sleep({"Retry-After": "2"}, now=100) == 2.0
    assert hc.rate_limit_sleep({"RateLimit-Reset": "90"}, now=100) == 0.05
    assert hc.rate_limit_sleep({"RateLimit-Reset": "100000"}, now=100) == hc.RATE_LIMIT_MAX_SLEEP
    assert hc.rate_limit_sleep({}, now=100) == 1.0


def test_pagination_follows_next_page():
    page1 = {"servers": [{"id": 1}], "meta": {"pagination": {"page": 1, "next_page": 2}}}
    page2 = {"servers": [{"id": 2}], "meta": {"pagination": {"page": 2, "next_page": None}}}
    seen = []
    client, session, sleeps = make_fake_client([
        ("GET", "/servers", response(200, page1), lambda p, j: seen.append(dict(p))),
        ("GET", "/servers", response(200, page2), lambda p, j: seen.append(dict(p))),
    ])
    items = hc.iter_pages(client, "/servers", "servers", {"label_selector": "fleet=a"})
    assert [i["id"] for i in items] == [1, 2]
    assert seen[0]["per_page"] == 50 and seen[1]["page"] == 2 and seen[0]["label_selector"] == "fleet=a"
