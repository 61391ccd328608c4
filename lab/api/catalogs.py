"""Server types, locations and datacenters: read-only catalogs."""
from __future__ import annotations

from .. import catalog
from ..errors import not_found
from .actions import resource_routes
from .base import filtered, int_field, ok, paginate


def _catalog_handlers(key: str, one: str, items: list, extra=None):
    def list_(w, req):
        return paginate(w, req, key, filtered(w, req, items, extra), lambda o: o)

    def get_(w, req):
        ident = int_field(req.params["id"], "id")
        for o in items:
            if o["id"] == ident:
                return ok({one: o})
        raise not_found(one.replace("_", " "), ident)
    return list_, get_


list_server_types, get_server_type = _catalog_handlers("server_types", "server_type",
                                                       catalog.SERVER_TYPES)
list_locations, get_location = _catalog_handlers("locations", "location", catalog.LOCATIONS)
list_datacenters, get_datacenter = _catalog_handlers("datacenters", "datacenter",
                                                     catalog.DATACENTERS)


ROUTES = (resource_routes("server_types", "server_type", list_server_types, get_server_type)
          + resource_routes("locations", "location", list_locations, get_location)
          + resource_routes("datacenters", "datacenter", list_datacenters, get_datacenter))
