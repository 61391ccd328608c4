"""API errors in the Hetzner Cloud shape: ``{"error": {"code", "message", "details"}}``."""
from __future__ import annotations


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}

    def payload(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def invalid(fields: dict[str, list[str] | str]) -> APIError:
    """400 invalid_input with details.fields for each offending field."""
    flist = []
    for name, msgs in fields.items():
        if isinstance(msgs, str):
            msgs = [msgs]
        flist.append({"name": name, "messages": list(msgs)})
    first = flist[0]
    msg = f"invalid input in field '{first['name']}': {'; '.join(first['messages'])}"
    if len(flist) > 1:
        msg = "invalid input in fields " + ", ".join(f"'{f['name']}'" for f in flist)
    return APIError(400, "invalid_input", msg, {"fields": flist})


def not_found(kind: str, ident) -> APIError:
    return APIError(404, "not_found", f"{kind} with ID '{ident}' not found")


def locked(kind: str, ident) -> APIError:
    return APIError(423, "locked", f"{kind} {ident} is locked: another action is running on it")


def protected(kind: str, ident, what: str = "delete") -> APIError:
    return APIError(403, "protected", f"cannot {what} {kind} {ident}: it is protected; "
                    f"disable its {what} protection first")


def uniqueness(field: str, message: str) -> APIError:
    return APIError(409, "uniqueness_error", message, {"fields": [{"name": field}]})
