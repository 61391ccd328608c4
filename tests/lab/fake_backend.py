"""A blocking test backend: every call takes ``delay`` seconds in the lab's worker
thread, is recorded as a JSON line in ``<state>/fake-calls.jsonl``, and fails with a
BackendError when its method name is listed in ``fail`` (comma list) or the server's
name starts with ``fail-``.  Loaded with ``--backend fake_backend:SlowBackend``."""
import json
import threading
import time

from lab.backends.base import Backend, BackendError


class SlowBackend(Backend):
    name = "fake"
    blocking = True

    def __init__(self, state_dir, **options):
        super().__init__(state_dir, **options)
        self.delay = float(options.get("delay", 0.5))
        self.fail = set(filter(None, options.get("fail", "").split(",")))
        self.lock = threading.Lock()
        self.log = self.state_dir / "fake-calls.jsonl"

    def _record(self, method, spec=None, fail_name=True, **extra):
        with self.lock, open(self.log, "a") as f:
            f.write(json.dumps({"call": method, "t": time.time(), "id": getattr(spec, "id", None),
                                "name": getattr(spec, "name", None), **extra}) + "\n")
        time.sleep(self.delay)
        if method in self.fail or (fail_name and spec is not None
                                   and str(getattr(spec, "name", "")).startswith("fail-")):
            raise BackendError(f"fake backend: {method} failed for {getattr(spec, 'name', '?')}")

    def resume(self, servers, volumes):
        with self.lock, open(self.log, "a") as f:
            f.write(json.dumps({"call": "resume", "servers": [[s.id, s.status] for s in servers],
                                "volumes": [v.id for v in volumes]}) + "\n")

    def close(self):
        with self.lock, open(self.log, "a") as f:
            f.write(json.dumps({"call": "close"}) + "\n")

    def create_server(self, spec):
        self._record("create_server", spec, ipv4=spec.ipv4, image=spec.image,
                     keys=list(spec.ssh_keys), user_data=spec.user_data,
                     disk=spec.server_type.disk_gb, arch=spec.server_type.architecture,
                     power_on=spec.power_on)

    def delete_server(self, spec):
        self._record("delete_server", spec, fail_name=False)

    def power_on(self, spec, rescue):
        self._record("power_on", spec, rescue=rescue)

    def power_off(self, spec):
        self._record("power_off", spec)

    def shutdown(self, spec):
        self._record("shutdown", spec)

    def reboot(self, spec, rescue):
        self._record("reboot", spec, rescue=rescue)

    def reset(self, spec, rescue):
        self._record("reset", spec, rescue=rescue)

    def rebuild(self, spec, image):
        self._record("rebuild", spec, image=image)

    def enable_rescue(self, spec, ssh_keys):
        self._record("enable_rescue", spec, keys=list(ssh_keys))

    def disable_rescue(self, spec):
        self._record("disable_rescue", spec)

    def change_type(self, spec, new_type, upgrade_disk):
        self._record("change_type", spec, new=new_type.name, disk=new_type.disk_gb)

    def create_volume(self, volume):
        self._record("create_volume", volume, size=volume.size_gb)

    def delete_volume(self, volume):
        self._record("delete_volume", volume, fail_name=False)

    def attach_volume(self, volume, server):
        self._record("attach_volume", volume, server=server.id)

    def detach_volume(self, volume, server):
        self._record("detach_volume", volume, server=server.id)

    def resize_volume(self, volume, new_size_gb):
        self._record("resize_volume", volume, size=new_size_gb)

    def server_info(self, spec):
        return {"console_log": str(self.state_dir / f"console-{spec.id}.log")}


class NotifyingBackend(SlowBackend):
    """SlowBackend whose guests "power off by themselves" 0.3 s after a power_on with
    user_data "selfstop", and which reports rescue boots (events through notify)."""

    def power_on(self, spec, rescue):
        super().power_on(spec, rescue)
        if rescue:
            self.notify(spec.id, "rescue_used")

    def create_server(self, spec):
        super().create_server(spec)
        if spec.user_data == "selfstop":
            threading.Timer(0.3, self.notify, (spec.id, "status"), {"status": "off"}).start()
