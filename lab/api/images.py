"""Images (the system catalog plus snapshots and backups) and ISOs."""
from __future__ import annotations

from .. import catalog
from ..errors import APIError, invalid, not_found
from ..world import World
from .actions import resource_routes
from .base import (Response, change_protection_handler, check_protection, filtered, int_field,
                   json_body, ok, paginate)


def _filter_arch(o, vals):
    return o["architecture"] in vals


def image_json(w: World, img: dict) -> dict:
    """A system image (catalog) or a snapshot/backup (world) as the API shows it."""
    if img["id"] in catalog.IMAGE_BY_ID:
        return img
    return {k: v for k, v in img.items() if not k.startswith("_")}


def _images(w: World) -> list:
    return catalog.IMAGES + list(w.objs["image"].values())


def list_images(w, req):
    items = filtered(w, req, _images(w), {
        "architecture": _filter_arch,
        "type": lambda o, v: o["type"] in v,
        "status": lambda o, v: o["status"] in v,
        "bound_to": lambda o, v: str(o["bound_to"]) in v})
    if req.q("include_deprecated", "false") != "true":
        items = [o for o in items if not o.get("deprecated")]
    return paginate(w, req, "images", items, lambda o: image_json(w, o))


def _get_any_image(w: World, ref) -> dict:
    ident = int_field(ref, "id")
    img = catalog.IMAGE_BY_ID.get(ident) or w.objs["image"].get(ident)
    if img is None:
        raise not_found("image", ident)
    return img


def get_image(w, req):
    return ok({"image": image_json(w, _get_any_image(w, req.params["id"]))})


def _user_image(w: World, ref) -> dict:
    img = _get_any_image(w, ref)
    if img["id"] in catalog.IMAGE_BY_ID:
        raise APIError(403, "forbidden", f"image {img['id']} is a system image and cannot "
                                         "be changed")
    return img


def update_image(w, req):
    img = _user_image(w, req.params["id"])
    body = json_body(req)
    if "description" in body:
        if not isinstance(body["description"], str):
            raise invalid({"description": "must be a string"})
        img["description"] = body["description"]
    if "type" in body:
        if body["type"] != "snapshot":
            raise invalid({"type": "can only be changed to 'snapshot' (from a backup)"})
        img["type"], img["bound_to"] = "snapshot", None
    if "labels" in body:
        img["labels"] = w.check_labels(body["labels"])
    w.touch("image", img["id"])
    return ok({"image": image_json(w, img)})


def delete_image(w, req):
    img = _user_image(w, req.params["id"])
    check_protection(w, "image", img)
    w.check_lock("image", img["id"])
    w.remove("image", img["id"])
    w.new_action("delete_image", [("image", img["id"])],
                 backend_call=(w.backend.delete_image, (img["id"],)))
    return Response(204)


def change_protection_image(w, req):
    _user_image(w, req.params["id"])
    return change_protection_handler("image")(w, req)


# ---------------------------------------------------------------------------------------
# ISOs (read-only catalog; attach_iso / detach_iso are server actions)
def list_isos(w, req):
    items = filtered(w, req, catalog.ISOS)
    archs = req.qs("architecture")
    if archs:
        wildcard = req.q("include_architecture_wildcard", "false") == "true"
        items = [o for o in items if o["architecture"] in archs
                 or (wildcard and o["architecture"] is None)]
    return paginate(w, req, "isos", items, lambda o: o)


def get_iso(w, req):
    ident = int_field(req.params["id"], "id")
    iso_ = catalog.ISO_BY_ID.get(ident)
    if iso_ is None:
        raise not_found("iso", ident)
    return ok({"iso": iso_})


ROUTES = (resource_routes("images", "image", list_images, get_image, None, update_image,
                          delete_image, {"change_protection": change_protection_image})
          + resource_routes("isos", "iso", list_isos, get_iso))
