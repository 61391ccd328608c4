# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment: declared support for check mode, diff mode and idempotence.

Use ``nixos_hetzner.vps.attributes`` (check_mode, diff_mode and idempotent all full), or
``nixos_hetzner.vps.attributes.partial_idempotence`` together with ``.modes`` for a module
that has states which always act (restart, rebuild), or ``nixos_hetzner.vps.attributes.info``
for a module that only reads."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status without modifying the target.
    support: full
  diff_mode:
    description: Returns the planner's before and after state when run with C(--diff).
    support: full
  idempotent:
    description: A second run with the same arguments reports no change and changes nothing.
    support: full
"""

    MODES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status without modifying the target.
    support: full
  diff_mode:
    description: Returns the planner's before and after state when run with C(--diff).
    support: full
"""

    PARTIAL_IDEMPOTENCE = r"""
options: {}
attributes:
  idempotent:
    description:
      - A second run with the same arguments reports no change and changes nothing, except for
        states that request an action every time (see the module's notes).
    support: partial
"""

    INFO = r"""
options: {}
attributes:
  check_mode:
    description: Only reads; runs the same in check mode and never reports a change.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  idempotent:
    description: Only reads; never changes anything.
    support: full
"""
