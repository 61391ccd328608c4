"""The API-only backend: servers and volumes exist only as rows in the emulator's SQLite
state.  Every method is a no-op, so actions complete by their duration alone."""
from __future__ import annotations

from typing import Any

from .base import Backend, ServerSpec, ServerTypeSpec, VolumeSpec


class ApiBackend(Backend):
    name = "api"
    blocking = False

    def create_server(self, spec: ServerSpec) -> None:
        pass

    def delete_server(self, spec: ServerSpec) -> None:
        pass

    def power_on(self, spec: ServerSpec, rescue: bool) -> None:
        pass

    def power_off(self, spec: ServerSpec) -> None:
        pass

    def shutdown(self, spec: ServerSpec) -> None:
        pass

    def reboot(self, spec: ServerSpec, rescue: bool) -> None:
        pass

    def reset(self, spec: ServerSpec, rescue: bool) -> None:
        pass

    def rebuild(self, spec: ServerSpec, image: str) -> None:
        pass

    def enable_rescue(self, spec: ServerSpec, ssh_keys: list[str]) -> None:
        pass

    def disable_rescue(self, spec: ServerSpec) -> None:
        pass

    def change_type(self, spec: ServerSpec, new_type: ServerTypeSpec,
                    upgrade_disk: bool) -> None:
        pass

    def create_volume(self, volume: VolumeSpec) -> None:
        pass

    def delete_volume(self, volume: VolumeSpec) -> None:
        pass

    def attach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        pass

    def detach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        pass

    def resize_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        pass

    def server_info(self, spec: ServerSpec) -> dict[str, Any]:
        return {"backend": "api"}
