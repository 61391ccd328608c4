# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The seam of ``hcloud_server`` and ``hcloud_fleet``: carry out server plans.

One job: turn the ``steps`` of server plans (see ``_hcloud_server_plan``) into API calls,
for one server or for many at once. Work runs in *rounds*: in each round the next step of
every server is issued (bounded by ``max_parallel`` threads), then the actions of the whole
round are waited for together by the batched waiter (``GET /actions?id=…``, 25 ids per
request). A server whose step fails leaves the rounds with its error recorded; the others
go on. Nothing here decides *what* to do.

Also here: catalog look-ups (server types, images, locations, ssh keys, firewalls,
networks, placement groups), each fetched at most once per run and only when needed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import (
    APIException,
    HcloudError,
    create_or_adopt,
    iter_pages,
    translate_error,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import Catalog


class Catalogs(object):
    """Lazily fetched lists, each at most once per run (thread-safe)."""

    SOURCES = {
        "server_types": ("/server_types", "server_types", None),
        "images": ("/images", "images", {"type": "system"}),
        "locations": ("/locations", "locations", None),
        "ssh_keys": ("/ssh_keys", "ssh_keys", None),
        "firewalls": ("/firewalls", "firewalls", None),
        "networks": ("/networks", "networks", None),
        "placement_groups": ("/placement_groups", "placement_groups", None),
    }
    OPTION = {"server_types": "server_type", "images": "image", "locations": "location",
              "ssh_keys": "ssh key", "firewalls": "firewall", "networks": "network",
              "placement_groups": "placement group"}

    def __init__(self, client):
        self._client = client
        self._cache = {}
        self._locks = dict((kind, threading.Lock()) for kind in self.SOURCES)

    def get(self, kind, fetch=True):
        """The catalog of ``kind``, fetched on first use. With ``fetch=False`` (from a pure
        ``plan()``) a catalog that was not read before is an internal error."""
        with self._locks[kind]:  # one lock per kind: different catalogs load in parallel
            if kind not in self._cache:
                if not fetch:
                    raise HcloudError("internal error: the %s catalog was not read before planning"
                                      % kind, code="internal_error")
                url, key, params = self.SOURCES[kind]
                items = iter_pages(self._client, url, key, params=params)
                self._cache[kind] = Catalog(kind, items, option=self.OPTION[kind])
            return self._cache[kind]

    def prefetch(self, kinds):
        """Load several catalogs at once (one request each, in parallel)."""
        kinds = [k for k in kinds if k not in self._cache]
        if len(kinds) > 1:
            with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
                list(pool.map(self.get, kinds))
        elif kinds:
            self.get(kinds[0])

    def fetched(self):
        return sorted(self._cache)

    @staticmethod
    def needed(refs):
        """Whether resolving ``refs`` needs the catalog (some ref is a name, not an id)."""
        return any(not str(r).isdigit() for r in refs or [])

    def ids(self, kind, refs, planned=(), fetch=True):
        """Resolve names or ids to ids ({ref: "id"}); only fetches if a ref is not numeric
        (see :meth:`needed`; ``fetch`` as for :meth:`get`). Raises HcloudError listing the
        valid names for an unknown one. A name in ``planned`` that does not exist yet
        resolves to itself: a check-mode run plans it, because an earlier task of the same
        run creates it."""
        refs = [str(r) for r in refs or []]
        planned = set(str(p) for p in planned or ())
        if not refs:
            return {}
        if not self.needed(refs):
            return dict((r, r) for r in refs)
        catalog = self.get(kind, fetch=fetch)
        out, problems = {}, []
        for ref in refs:
            item = catalog.get(ref)
            if item is None:
                if ref.isdigit() or ref in planned:
                    out[ref] = ref
                    continue
                problems.append(catalog.problem(ref))
            else:
                out[ref] = str(item["id"])
        if problems:
            raise HcloudError("; ".join(problems), code="invalid_input", details={"problems": problems})
        return out


class Job(object):
    """One server's work: its remaining steps, its server id, its outcome."""

    def __init__(self, name, desired, plan, server_id=None):
        self.name = name
        self.desired = desired
        self.plan = plan
        self.server_id = server_id
        self.steps = list(plan.steps)
        self.done = []
        self.error = None          # dict(msg, code, details) when a step failed
        self.root_password = None  # only set when no ssh key could be used
        self.created = False
        self.adopted = False
        self.forced_off = None     # after wait_off: True if the graceful shutdown timed out

    @property
    def active(self):
        return self.error is None and bool(self.steps)


def _action_list(*parts):
    out = []
    for part in parts:
        if not part:
            continue
        if isinstance(part, list):
            out.extend(a for a in part if a)
        else:
            out.append(part)
    return out


class ServerOps(object):
    def __init__(self, client, waiter, catalogs, max_parallel=10):
        self.client = client
        self.waiter = waiter
        self.catalogs = catalogs
        self.max_parallel = max(1, int(max_parallel or 1))
        self.refs = {}
        #: ``progress(server_name, event)``: called as each server's action ends ("create_server
        #: done") and when its job ends ("finished", "failed: ..."). From the waits' own polls.
        self.progress = None

    def request(self, method, url, **kwargs):
        return self.client.request(method, url, **kwargs)

    # ------------------------------------------------------------------ steps
    def _create_body(self, job):
        d = job.desired
        body = {"name": d["name"], "server_type": d["server_type"], "image": d["image"],
                "start_after_create": d.get("state") not in ("stopped", "rescue"),
                "labels": d.get("labels") if d.get("labels") is not None else (d.get("create_labels") or {})}
        if d.get("location"):
            body["location"] = d["location"]
        if d.get("ssh_keys"):
            body["ssh_keys"] = [int(k) if k.isdigit() else k for k in d["ssh_keys"]]
        if d.get("user_data") is not None:
            body["user_data"] = d["user_data"]
        fw = self.refs.get("firewalls") or {}
        if d.get("firewalls"):
            body["firewalls"] = [{"firewall": int(fw.get(f, f))} for f in d["firewalls"]]
        net = self.refs.get("networks") or {}
        if d.get("networks"):
            body["networks"] = [int(net.get(n, n)) for n in d["networks"]]
        pg = self.refs.get("placement_groups") or {}
        if d.get("placement_group"):
            body["placement_group"] = int(pg.get(d["placement_group"], d["placement_group"]))
        if d.get("enable_ipv4") is not None or d.get("enable_ipv6") is not None:
            body["public_net"] = {
                "enable_ipv4": True if d.get("enable_ipv4") is None else d["enable_ipv4"],
                "enable_ipv6": True if d.get("enable_ipv6") is None else d["enable_ipv6"]}
        return body

    def _find_server(self, name):
        for item in self.request("GET", "/servers", params={"name": name}).get("servers") or []:
            if item.get("name") == name:
                return item
        return None

    def _create(self, job):
        body = self._create_body(job)

        def post():
            try:
                return self.request("POST", "/servers", json=body)
            except APIException as exc:
                if exc.code == "uniqueness_error":
                    raise HcloudError(
                        "a server named %s already exists but was not found where it was looked "
                        "for (for hcloud_fleet: it lacks the label of this fleet); label it, "
                        "rename it or delete it" % job.name, code="uniqueness_error",
                        details={"name": job.name, "api_message": exc.message})
                raise

        resp = create_or_adopt(post, lambda: self._find_server(job.name),
                               nothing="no server %s exists" % job.name)
        if "adopted" in resp:
            found = resp["adopted"]
            job.server_id = found["id"]
            job.adopted = True
            job.created = True
            return self.request("GET", "/servers/%d/actions" % found["id"],
                                params={"status": "running"}).get("actions") or []
        job.server_id = resp["server"]["id"]
        job.created = True
        if resp.get("root_password") and not job.desired.get("ssh_keys"):
            job.root_password = resp["root_password"]
        return _action_list(resp.get("action"), resp.get("next_actions"))

    def _server_action(self, job, command, body=None):
        resp = self.request("POST", "/servers/%d/actions/%s" % (job.server_id, command),
                            json=body if body is not None else {})
        if command in ("enable_rescue", "rebuild") and resp.get("root_password"):
            if command == "rebuild" or not self._rescue_keys(job):
                job.root_password = resp["root_password"]
        return _action_list(resp.get("action"))

    def _wait_off(self, job, poll=1.0):
        """After ``shutdown``: wait up to the server's shutdown_timeout for it to be off, then
        power it off (the OS may ignore ACPI). Returns the actions to wait for."""
        deadline = time.monotonic() + max(0, int(job.desired.get("shutdown_timeout") or 0))
        while True:
            server = self.request("GET", "/servers/%d" % job.server_id)["server"]
            if server.get("status") == "off":
                job.forced_off = False
                return []
            if time.monotonic() >= deadline:
                job.forced_off = True
                return self._server_action(job, "poweroff")
            time.sleep(poll)

    def _rescue_keys(self, job):
        keys = job.desired.get("ssh_keys") or []
        if not keys:
            return []
        ids = self.catalogs.ids("ssh_keys", keys)
        return [int(ids[k]) for k in keys]

    def issue(self, job, step):
        """Issue one step for one server; return the actions to wait for."""
        sid = job.server_id
        d = job.desired
        if step == "create":
            return self._create(job)
        if step == "delete":
            try:
                resp = self.request("DELETE", "/servers/%d" % sid)
            except Exception as exc:
                if getattr(exc, "code", None) == "not_found":
                    return []  # already gone (a retried delete whose answer was lost)
                raise
            return _action_list(resp.get("action"))
        if step == "power_off":
            return self._server_action(job, "poweroff")
        if step == "shutdown":
            # Graceful: an ACPI request. Its action only says that the request was sent.
            return self._server_action(job, "shutdown")
        if step == "wait_off":
            return self._wait_off(job)
        if step == "power_on":
            return self._server_action(job, "poweron")
        if step == "reboot":
            return self._server_action(job, "reboot")
        if step == "reset":
            return self._server_action(job, "reset")
        if step == "change_type":
            return self._server_action(job, "change_type", {"server_type": d["server_type"],
                                                            "upgrade_disk": bool(d.get("upgrade_disk"))})
        if step == "update":
            self.request("PUT", "/servers/%d" % sid, json={"labels": d["labels"]})
            return []
        if step in ("enable_backup", "disable_backup"):
            return self._server_action(job, step)
        if step == "change_protection":
            after = job.plan.after
            return self._server_action(job, "change_protection", {
                "delete": bool(after.get("delete_protection")),
                "rebuild": bool(after.get("rebuild_protection"))})
        if step == "apply_firewalls":
            actions = []
            for fid in job.plan.changes.get("firewalls") or []:
                resp = self.request("POST", "/firewalls/%s/actions/apply_to_resources" % fid,
                                    json={"apply_to": [{"type": "server", "server": {"id": sid}}]})
                actions.extend(resp.get("actions") or [])
            return actions
        if step == "attach_networks":
            actions = []
            for nid in job.plan.changes.get("networks") or []:
                resp = self.request("POST", "/servers/%d/actions/attach_to_network" % sid,
                                    json={"network": int(nid)})
                out = _action_list(resp.get("action"))
                self.waiter.wait_or_raise(out, context="attaching %s to network %s" % (job.name, nid))
            return actions
        if step == "rebuild":
            body = {"image": d["image"]}
            if d.get("user_data") is not None:
                body["user_data"] = d["user_data"]
            return self._server_action(job, "rebuild", body)
        if step == "enable_rescue":
            body = {"type": "linux64"}
            keys = self._rescue_keys(job)
            if keys:
                body["ssh_keys"] = keys
            return self._server_action(job, "enable_rescue", body)
        raise HcloudError("internal error: unknown step %r" % step, code="internal_error")

    # ----------------------------------------------------------------- rounds
    def run(self, jobs):
        """Carry out every job's steps in rounds; errors are recorded on the jobs."""
        pool = ThreadPoolExecutor(max_workers=self.max_parallel) if self.max_parallel > 1 else None
        try:
            while True:
                active = [j for j in jobs if j.active]
                if not active:
                    break
                batch = [(job, job.steps.pop(0)) for job in active]

                def one(item):
                    job, step = item
                    try:
                        return job, step, self.issue(job, step), None
                    except Exception as exc:  # recorded per server, reported by the module
                        return job, step, [], translate_error(exc, "server %s: %s" % (job.name, step))

                results = list(pool.map(one, batch)) if pool and len(batch) > 1 else [one(b) for b in batch]
                owner = {}
                actions = []
                for job, step, acts, err in results:
                    if err is not None:
                        job.error = err.fail_kwargs()
                        continue
                    job.done.append(step)
                    for action in acts:
                        aid = action["id"] if isinstance(action, dict) else action
                        owner[aid] = job
                        actions.append(action)
                if actions:
                    outcome = self.waiter.wait(actions, on_done=self._report_action(owner))
                    for err in outcome.errors():
                        job = owner.get(err["details"]["action"].get("id"))
                        if job is not None and job.error is None:
                            err["msg"] = "server %s: %s" % (job.name, err["msg"])
                            job.error = err
                for job, _step, _acts, _err in results:
                    if not job.active and self.progress is not None:
                        self.progress(job.name, "failed: %s" % job.error["msg"] if job.error else "finished")
        finally:
            if pool:
                pool.shutdown(wait=True)
        for job in jobs:
            self._power_on_after_failure(job)
        return jobs

    def _report_action(self, owner):
        if self.progress is None:
            return None

        def on_done(action):
            job = owner.get(action.get("id"))
            if job is not None:
                self.progress(job.name, "%s %s" % (action.get("command") or "action",
                                                   "done" if action.get("status") == "success" else "failed"))
        return on_done

    def _power_on_after_failure(self, job):
        """A step failed after this run powered the server off, and its power_on is still
        pending: power it on again, so that a refused change never leaves a server off."""
        if job.error is None or "power_on" not in job.steps:
            return
        if not set(job.done) & {"shutdown", "wait_off", "power_off"}:
            return
        try:
            self.waiter.wait_or_raise(self._server_action(job, "poweron"),
                                      context="powering %s on again" % job.name)
        except Exception as exc:
            err = translate_error(exc, "server %s: power_on" % job.name)
            job.error["msg"] += "; powering it on again failed too: %s" % err.fail_kwargs()["msg"]
            return
        job.steps.remove("power_on")
        job.done.append("power_on")
        job.error["msg"] += "; the server was powered off for this change and is powered on again"
