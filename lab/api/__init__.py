"""Handlers of the emulated Hetzner Cloud API v1, one module per resource, and the route
table that maps (method, path template) to them.  The same templates label the request
counters of ``GET /__lab/stats``.

A handler is ``fn(world, req) -> Response``; it runs with ``world.lock`` held, after due
actions were settled, and the caller commits the world afterwards.  Errors are raised as
``APIError``.

The route table: (method, path template, handler).  Templates are those of the public
API; {id} and {action_id} are integers.  Within a path length the first matching template
wins, so each resource's literal routes (``/servers/actions``) come before ``{id}``.
"""
from __future__ import annotations

from . import (actions, catalogs, firewalls, floating_ips, images, metrics, networks,
               placement_groups, primary_ips, server_actions, servers, ssh_keys, volumes)
from .base import Request, Response

__all__ = ["ROUTES", "Request", "Response"]

ROUTES = (actions.ROUTES + servers.ROUTES + server_actions.ROUTES + ssh_keys.ROUTES
          + firewalls.ROUTES + networks.ROUTES + volumes.ROUTES + placement_groups.ROUTES
          + primary_ips.ROUTES + catalogs.ROUTES + images.ROUTES + floating_ips.ROUTES
          + metrics.ROUTES)
