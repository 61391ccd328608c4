# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The base class of the Hetzner Cloud modules: decide, then act.

One job: give every hcloud module the same shape. A module subclasses
:class:`HcloudModule` and writes four small methods; the base class supplies the client
(with the retry layer), the batched waiter, check mode, diff mode, the result and the
translation of every error into ``fail_json(msg, code, details)``.

``run()`` does, in this order::

    validate()                      pure input checks, raise HcloudError  (no API call)
    observed = observe()            read the current state (API reads only)
    plan = plan(observed)           PURE: returns a Plan (op, changes, conflicts, diff)
    plan.conflicts -> fail          a change the resource cannot take is an error
    if plan.changed and not check_mode:
        facts = apply(plan, observed)   THE SEAM: the only place that writes
    else:
        facts = facts(observed, plan)   what the resource looks like (or would look like)
    exit_json(changed=plan.changed, <result_key>=facts, diff=plan.diff if --diff)

Worked example (an ssh key module, roughly what ``hcloud_ssh_key`` does)::

    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import (
        HcloudModule)
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import (
        plan_simple)
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
        check_labels, normalize_labels)

    class SshKey(HcloudModule):
        result_key = "hcloud_ssh_key"

        def validate(self):
            check_labels(self.params["labels"])

        def observe(self):
            return self.find_by_name("/ssh_keys", "ssh_keys", self.params["name"])

        def desired(self):
            return dict(name=self.params["name"], public_key=self.params["public_key"],
                        labels=normalize_labels(self.params["labels"]))

        def plan(self, observed):
            flat = observed and dict(name=observed["name"], labels=observed["labels"],
                                     public_key=observed["public_key"])
            return plan_simple(flat, self.desired(), self.params["state"],
                               updatable=("labels",), immutable=("public_key",))

        def apply(self, plan, observed):
            if plan.op == "delete":
                self.request("DELETE", "/ssh_keys/%d" % observed["id"])
                return {}
            if plan.op == "create":
                key = self.create_or_adopt(
                    lambda: self.request("POST", "/ssh_keys", json=plan.changes)["ssh_key"],
                    lambda: self.find_by_name("/ssh_keys", "ssh_keys", self.params["name"]))
                return key
            return self.request("PUT", "/ssh_keys/%d" % observed["id"],
                                json=plan.changes)["ssh_key"]

        def facts(self, observed, plan):
            return dict(observed or {}, **plan.changes) if plan.op != "delete" else {}

    def main():
        module = AnsibleModule(
            argument_spec=HcloudModule.argument_spec(
                name=dict(type="str", required=True),
                public_key=dict(type="str"),
                labels=dict(type="dict"),
                state=dict(type="str", default="present", choices=["present", "absent"])),
            supports_check_mode=True)
        SshKey(module).run()

Notes for module authors:

* Use ``self.request(method, url, json=…, params=…)`` (raw dicts in and out) or
  ``self.client`` (the ``hcloud.Client``) - both go through the retry layer.
* For an action: ``self.wait([response["action"]], context="starting web1")`` waits
  (batched) and raises HcloudError if it failed.
* Creates: wrap them in :meth:`create_or_adopt` so that a create whose answer was lost
  never produces a duplicate.
* Put the real decisions in a pure planner function in a ``_hcloud_*`` module_utils file so
  that unit tests call it with plain dicts; ``plan()`` just calls it.
"""

from __future__ import annotations

import traceback

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import (
    CREATE_ATTEMPTS,
    HcloudError,
    create_or_adopt,
    hcloud_argument_spec,
    iter_pages,
    make_client,
    translate_error,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_waiter import ActionWaiter


class HcloudModule(object):
    #: The result key that holds the resource's facts, e.g. ``"hcloud_ssh_key"``.
    result_key = "hcloud"

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self._client = None
        self._waiter = None
        #: Extra top-level result keys (documented in the module's RETURN).
        self.extra_result = {}

    # ---------------------------------------------------------------- set-up
    @staticmethod
    def argument_spec(**spec):
        """The module's own options plus ``api_token`` and ``api_endpoint``."""
        merged = hcloud_argument_spec()
        merged.update(spec)
        return merged

    @property
    def client(self):
        if self._client is None:
            self._client = make_client(self.params)
        return self._client

    @property
    def waiter(self):
        if self._waiter is None:
            self._waiter = ActionWaiter.for_client(self.client)
        return self._waiter

    # ------------------------------------------------------------ API helpers
    def request(self, method, url, **kwargs):
        """One API request through the library (and the retry layer); returns the JSON dict."""
        return self.client.request(method, url, **kwargs)

    def list_all(self, url, key, params=None, per_page=50):
        """Every item of a paginated list endpoint, e.g. ``list_all("/servers", "servers",
        {"label_selector": "fleet=web"})``."""
        return iter_pages(self.client, url, key, params=params, per_page=per_page)

    def find_by_name(self, url, key, name):
        """The resource named ``name`` (raw dict) or None; one request."""
        items = self.request("GET", url, params={"name": name}).get(key) or []
        for item in items:
            if item.get("name") == name:
                return item
        return None

    def find_by_name_or_id(self, url, key, value):
        """Resolve a reference given by name or by numeric id (``"42"`` or ``42``)."""
        if value is None:
            return None
        if isinstance(value, int) or str(value).isdigit():
            try:
                return self.request("GET", "%s/%s" % (url, value))[key.rstrip("s")]
            except Exception as exc:  # not_found falls through to a name lookup
                if getattr(exc, "code", None) != "not_found":
                    raise
        return self.find_by_name(url, key, str(value))

    def wait(self, actions, context=None, timeouts=None):
        """Wait (batched) for actions; raise HcloudError if one failed or timed out."""
        actions = [a for a in actions if a]
        if not actions:
            return None
        return self.waiter.wait_or_raise(actions, context=context, timeouts=timeouts)

    def create_or_adopt(self, create, find, attempts=CREATE_ATTEMPTS):
        """:func:`create_or_adopt` of ``_hcloud_client``: a create whose answer was lost
        is looked up with ``find()`` before it is tried again."""
        return create_or_adopt(create, find, attempts=attempts)

    # ------------------------------------------------------------- to override
    def validate(self):
        """Pure checks of ``self.params``; raise HcloudError. No API calls."""

    def observe(self):
        """Read the current state (raw dicts). API reads only."""
        raise NotImplementedError

    def plan(self, observed):
        """Return a :class:`Plan`. Must be pure (call a planner function)."""
        raise NotImplementedError

    def kept_in_use(self, name, reasons):
        """For O(state=absent) with O(keep_if_in_use): if ``reasons`` (why the resource is
        in use) is not empty, return a no-op :class:`Plan` and say why in RV(kept);
        otherwise None (the caller plans the delete)."""
        if self.params.get("state") != "absent" or not self.params.get("keep_if_in_use") or not reasons:
            return None
        self.extra_result["kept"] = "%s is in use: %s" % (name, "; ".join(reasons))
        return Plan()

    def apply(self, plan, observed):
        """Carry out the plan (the seam); return the resource's facts afterwards."""
        raise NotImplementedError

    def facts(self, observed, plan):
        """The facts to return when nothing is applied (no change, or check mode)."""
        return observed or {}

    # ------------------------------------------------------------------ driver
    def run(self):
        try:
            self.validate()
            observed = self.observe()
            plan = self.plan(observed)
            if not isinstance(plan, Plan):
                raise HcloudError("internal error: plan() must return a Plan", code="internal_error")
            if plan.conflicts:
                raise HcloudError(
                    "requested changes cannot be applied to the existing resource: %s"
                    % "; ".join(plan.conflicts),
                    code="unsupported_change", details={"conflicts": plan.conflicts})
            if plan.changed and not self.module.check_mode:
                facts = self.apply(plan, observed)
            else:
                facts = self.facts(observed, plan)
            result = dict(changed=plan.changed)
            result[self.result_key] = facts
            if self.module._diff:
                result["diff"] = plan.diff
            result.update(self.extra_result)
            self.module.exit_json(**result)
        except HcloudError as exc:
            self.module.fail_json(**exc.fail_kwargs())
        except Exception as exc:  # every library error becomes msg/code/details
            err = translate_error(exc)
            kwargs = err.fail_kwargs()
            if err.code == "internal_error":
                kwargs["exception"] = traceback.format_exc()
            self.module.fail_json(**kwargs)


class HcloudInfoModule(HcloudModule):
    """An info module: one paginated list call with the filters in :attr:`filters` (the
    options of the same name; empty ones are left out), each item put into shape by
    :meth:`shape`, sorted by name. Never changes anything; check mode is the same run."""
    #: The list endpoint and the key of its items, e.g. ``"/servers"``, ``"servers"``.
    url = None
    key = None
    #: Options that are passed as query parameters of the list call.
    filters = ("name", "label_selector")

    def shape(self, raw):
        """One raw item -> the dict returned for it."""
        raise NotImplementedError

    def observe(self):
        params = dict((k, self.params[k]) for k in self.filters if self.params.get(k))
        return sorted((self.shape(item) for item in self.list_all(self.url, self.key, params)),
                      key=lambda item: item["name"])

    def plan(self, observed):
        return Plan()

    def facts(self, observed, plan):
        return observed
