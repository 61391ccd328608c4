# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure planning helpers shared by the Hetzner Cloud modules.

One job: compare desired with observed state and say what to do. No API calls here.

* :class:`Plan` - the result of a planner: ``op`` (``create``, ``update``, ``delete``,
  ``none``, or a module-specific word), ``changes`` (field -> new value), ``steps`` (ordered
  action names for the seam), ``conflicts`` (requested changes the resource cannot take;
  the module must fail on them, not ignore them), ``before``/``after`` (the diff) and
  ``changed``.
* :func:`diff_fields` - field-wise comparison in which a desired value of ``None`` means
  "omitted: leave as is".
* :func:`plan_simple` - the whole plan for a resource with updatable and immutable fields,
  enough for ssh keys, placement groups, networks' top level…
"""

from __future__ import annotations


class Plan(object):
    def __init__(self, op="none", changes=None, steps=None, conflicts=None, before=None, after=None):
        self.op = op
        self.changes = dict(changes or {})
        self.steps = list(steps or [])
        self.conflicts = list(conflicts or [])
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}
        # Changes that were asked for but are not carried out (they need an opt-in), each a
        # sentence for the user. They do not make the plan "changed".
        self.pending = []

    @property
    def changed(self):
        return self.op != "none" or bool(self.changes) or bool(self.steps)

    @property
    def diff(self):
        """The ``diff`` result key (Ansible's before/after form)."""
        return {"before": self.before, "after": self.after}

    def __repr__(self):
        return "Plan(op=%r, changes=%r, steps=%r, conflicts=%r)" % (
            self.op, self.changes, self.steps, self.conflicts)


def _norm(value):
    if isinstance(value, (list, tuple)):
        return sorted((_norm(v) for v in value), key=repr)
    if isinstance(value, dict):
        return dict((str(k), _norm(v)) for k, v in value.items())
    return value


def diff_fields(desired, observed, fields=None):
    """``{field: desired_value}`` for every field whose desired value is not None and differs
    from the observed one. Lists compare as sets (order-insensitive), dicts key by key."""
    out = {}
    for field in (fields if fields is not None else desired.keys()):
        want = desired.get(field)
        if want is None:
            continue
        if _norm(want) != _norm(observed.get(field)):
            out[field] = want
    return out


def plan_simple(observed, desired, state, updatable=(), immutable=(), absent_ok=True):
    """Plan for a resource identified by name.

    ``observed``: the resource as a flat dict (``None`` if it does not exist), using the same
    field names and normalisation as ``desired``. ``desired``: the module's options (None =
    omitted). ``state``: ``present`` or ``absent``.

    * absent + exists -> ``op='delete'``; absent + missing -> nothing.
    * present + missing -> ``op='create'`` with every given field in ``changes``.
    * present + exists -> ``op='update'`` with the differing ``updatable`` fields; differing
      ``immutable`` fields become ``conflicts``.
    """
    fields = list(updatable) + list(immutable)
    if state == "absent":
        if observed is None:
            return Plan(before={}, after={})
        return Plan(op="delete", before=dict(observed), after={})
    if observed is None:
        after = dict((f, desired[f]) for f in fields if desired.get(f) is not None)
        after.setdefault("name", desired.get("name"))
        return Plan(op="create", changes=after, before={}, after=after)
    changes = diff_fields(desired, observed, updatable)
    conflicts = []
    for field, want in diff_fields(desired, observed, immutable).items():
        conflicts.append("%s cannot be changed on an existing resource (is %r, requested %r)"
                         % (field, observed.get(field), want))
    before = dict((f, observed.get(f)) for f in fields if f in observed)
    after = dict(before, **changes)
    return Plan(op="update" if changes else "none", changes=changes, conflicts=conflicts,
                before=before, after=after)
