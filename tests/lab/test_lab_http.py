"""Protocol-level behaviour over raw HTTP: auth, errors, rate limit, pagination, Link."""
import gzip
import json
import time
import urllib.request

import pytest
from hcloud import APIException


def _mk_servers(lab, n, prefix="s", labels=None):
    ids = []
    for i in range(n):
        st, _, body = lab.request("POST", "/servers", {
            "name": f"{prefix}{i:03d}", "server_type": "cx23", "image": "debian-12",
            "labels": (labels(i) if callable(labels) else labels) or {}})
        assert st == 201, body
        ids.append(body["server"]["id"])
    return ids


def test_wrong_token_is_401_unauthorized(lab):
    st, headers, body = lab.request("GET", "/servers", token="not-the-token")
    assert st == 401
    assert body["error"]["code"] == "unauthorized"
    assert "RateLimit-Limit" in headers
    st, _, body = lab.request("GET", "/servers", token=None)
    assert st == 401 and body["error"]["code"] == "unauthorized"
    with pytest.raises(APIException) as exc:
        lab.client(token="wrong").servers.get_all()
    assert exc.value.code == "unauthorized"


def test_malformed_json_is_400_json_error(lab):
    st, _, body = lab.request("POST", "/ssh_keys", raw=b'{"name": "k", ')
    assert st == 400
    assert body["error"]["code"] == "json_error"
    assert lab.request("GET", "/ssh_keys")[2]["ssh_keys"] == []


def test_unknown_route_is_404_json(lab):
    st, _, body = lab.request("GET", "/no_such_thing")
    assert st == 404 and body["error"]["code"] == "not_found"
    st, _, body = lab.request("POST", "/servers/1/actions/fly")
    assert st == 404 and body["error"]["code"] == "not_found"
    st, _, body = lab.request("PATCH", "/servers")
    assert st == 404 and body["error"]["code"] == "not_found"


def test_missing_resource_is_404_not_found(lab):
    for path in ("/servers/999", "/volumes/999", "/networks/999", "/firewalls/999",
                 "/ssh_keys/999", "/placement_groups/999", "/primary_ips/999",
                 "/actions/999", "/server_types/2", "/images/1", "/locations/99"):
        st, _, body = lab.request("GET", path)
        assert st == 404, path
        assert body["error"]["code"] == "not_found"


def test_non_numeric_id_is_invalid_input(lab):
    st, _, body = lab.request("GET", "/servers/abc")
    assert st == 400 and body["error"]["code"] == "invalid_input"
    assert body["error"]["details"]["fields"][0]["name"] == "id"


def test_rate_limit_headers_on_every_answer(lab):
    lab.configure(rate_limit=10, rate_refill=0.001)
    remaining = []
    for _ in range(3):
        st, headers, _ = lab.request("GET", "/locations")
        assert st == 200
        assert headers["RateLimit-Limit"] == "10"
        remaining.append(int(headers["RateLimit-Remaining"]))
        assert int(headers["RateLimit-Reset"]) >= int(time.time())
    assert remaining == [9, 8, 7]
    st, headers, _ = lab.request("GET", "/servers/424242")  # errors carry them too
    assert st == 404 and headers["RateLimit-Remaining"] == "6"


def test_empty_bucket_answers_429_and_refills(lab):
    lab.configure(rate_limit=5, rate_refill=2.0)
    statuses = [lab.request("GET", "/locations")[0] for _ in range(5)]
    assert statuses == [200] * 5
    st, headers, body = lab.request("GET", "/locations")
    assert st == 429
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert headers["RateLimit-Remaining"] == "0"
    reset = int(headers["RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 5 / 2.0 + 2
    assert lab.stats()["rate_limited"] == 1
    time.sleep(0.7)  # 2 tokens per second -> at least one token back
    assert lab.request("GET", "/locations")[0] == 200


def test_buckets_are_per_token(lab):
    lab.configure(rate_limit=2, rate_refill=0.01)
    for _ in range(2):
        lab.request("GET", "/locations")
    assert lab.request("GET", "/locations")[0] == 429
    st, headers, _ = lab.request("GET", "/locations", token="someone-else")
    assert st == 401 and headers["RateLimit-Remaining"] == "1"


def test_pagination_meta_and_link_header(lab):
    _mk_servers(lab, 7)
    st, headers, body = lab.request("GET", "/servers?per_page=3&page=2")
    assert st == 200
    assert [s["name"] for s in body["servers"]] == ["s003", "s004", "s005"]
    assert body["meta"]["pagination"] == {"page": 2, "per_page": 3, "previous_page": 1,
                                          "next_page": 3, "last_page": 3, "total_entries": 7}
    link = headers["Link"]
    assert link.startswith(f"<{lab.endpoint}/servers?")
    assert 'page=1>; rel="prev"' in link and 'page=3>; rel="next"' in link
    assert 'rel="last"' in link and "per_page=3" in link
    st, _, body = lab.request("GET", "/servers?per_page=3&page=3")
    assert [s["name"] for s in body["servers"]] == ["s006"]
    assert body["meta"]["pagination"]["next_page"] is None


def test_per_page_is_capped_at_50_and_library_walks_all_pages(lab):
    _mk_servers(lab, 55)
    st, _, body = lab.request("GET", "/servers?per_page=200")
    assert len(body["servers"]) == 50 and body["meta"]["pagination"]["per_page"] == 50
    lab.reset(world=False)
    servers = lab.client().servers.get_all()
    assert len(servers) == 55 and len({s.id for s in servers}) == 55
    # hcloud asks for 50 per page: exactly two list calls
    assert lab.calls("GET", "/v1/servers") == 2


def test_bad_page_parameters_are_invalid_input(lab):
    for q in ("page=0", "per_page=0", "page=x"):
        st, _, body = lab.request("GET", f"/servers?{q}")
        assert st == 400 and body["error"]["code"] == "invalid_input", q


def test_sort_and_name_filter(lab):
    _mk_servers(lab, 3)
    st, _, body = lab.request("GET", "/servers?sort=name:desc")
    assert [s["name"] for s in body["servers"]] == ["s002", "s001", "s000"]
    st, _, body = lab.request("GET", "/servers?sort=id:asc")
    assert [s["name"] for s in body["servers"]] == ["s000", "s001", "s002"]
    st, _, body = lab.request("GET", "/servers?name=s001")
    assert [s["name"] for s in body["servers"]] == ["s001"]
    st, _, body = lab.request("GET", "/servers?sort=color")
    assert st == 400 and body["error"]["details"]["fields"][0]["name"] == "sort"


def test_gzip_when_the_client_accepts_it(lab):
    _mk_servers(lab, 3)
    req = urllib.request.Request(lab.endpoint + "/servers", headers={
        "Authorization": f"Bearer {lab.token}", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert len(json.loads(gzip.decompress(r.read()))["servers"]) == 3


def test_latency_is_added(lab):
    lab.configure(latency=0.3)
    t0 = time.monotonic()
    assert lab.request("GET", "/locations")[0] == 200
    assert time.monotonic() - t0 >= 0.3


def test_chunked_body_and_keep_alive(lab):
    import http.client
    host, port = lab.endpoint.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"name": "chunky", "public_key":
                       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND x"})
    conn.request("POST", "/v1/ssh_keys", body=iter([body[:20].encode(), body[20:].encode()]),
                 headers={"Authorization": f"Bearer {lab.token}",
                          "Content-Type": "application/json"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 201 and json.loads(r.read())["ssh_key"]["name"] == "chunky"
    conn.request("GET", "/v1/ssh_keys", headers={"Authorization": f"Bearer {lab.token}"})
    r = conn.getresponse()  # same connection: the chunked body was consumed exactly
    assert r.status == 200 and len(json.loads(r.read())["ssh_keys"]) == 1
    conn.close()
