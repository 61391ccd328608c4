"""Server backends of the lab.  ``get_backend(name, state_dir, **options)`` returns an
instance; see ``lab.backends.base`` for the interface and calling rules."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, ServerSpec, ServerTypeSpec, VolumeSpec

__all__ = ["Backend", "BackendError", "ServerSpec", "ServerTypeSpec", "VolumeSpec",
           "get_backend", "BACKENDS"]

# name -> (module, class).  Modules are imported lazily: qemu.py may be absent or need
# tools that only the VM tests have.
BACKENDS = {
    "api": ("lab.backends.api", "ApiBackend"),
    "qemu": ("lab.backends.qemu", "QemuBackend"),
}


def get_backend(name: str, state_dir: Path | str, **options: Any) -> Backend:
    """Instantiate the backend ``name`` for ``state_dir``: "api", "qemu", or
    "package.module:ClassName" for a backend class living elsewhere (tests use this)."""
    if name in BACKENDS:
        modname, clsname = BACKENDS[name]
    elif ":" in name:
        modname, clsname = name.split(":", 1)
    else:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)} "
                         "or give module:Class")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise ValueError(f"backend {name!r} is not available: {exc}") from exc
    cls = getattr(module, clsname, None)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ValueError(f"backend {name!r}: {clsname} is not a lab.backends.base.Backend")
    return cls(Path(state_dir), **options)
