"""Builds the lab images with mmdebstrap, from Debian packages, inside a build chroot.

The host's apt configuration is read (for the mirror URL) but never changed: contrib is
enabled only in the chroot's own sources. Progress is printed as stage lines with the
elapsed time; the full build log is kept next to the image (build.log).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .store import Image, find_image, images_dir

# bump when a recipe changes in a way the hashes below do not see
BUILD_VERSION = {"rescue": "6", "disk": "5", "standin": "2"}
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"

RESCUE_PACKAGES = [
    # kernel + the toolchain dkms needs to build ZFS for exactly this kernel (purged after)
    "linux-image-cloud-amd64", "linux-headers-cloud-amd64", "dkms", "zfs-dkms",
    # what the rescue system offers
    "zfsutils-linux", "cryptsetup", "cryptsetup-bin", "gdisk", "parted", "openssh-server",
    "python3", "util-linux", "e2fsprogs", "dosfstools", "systemd-sysv", "udev", "dbus",
    "libpam-systemd", "iproute2", "kmod", "procps", "less", "ca-certificates", "curl",
    "rsync", "xz-utils", "zstd", "lvm2", "mdadm", "psmisc",
]
# purged after the modules are built, so the RAM image stays small
RESCUE_PURGE = ["zfs-dkms", "dkms", "linux-headers-cloud-amd64"]

DISK_PACKAGES = [
    "linux-image-cloud-amd64", "initramfs-tools", "zstd", "systemd-sysv", "udev", "dbus",
    "libpam-systemd", "openssh-server", "python3", "iproute2", "e2fsprogs", "kmod",
    "procps", "less", "ca-certificates", "sudo", "util-linux",
]

# The stand-in system (not NixOS; lab/images/standin/): what the lab installs where NixOS
# would go. No kernel package: it boots the rescue image's kernel with the ZFS modules built
# for it, which the build copies in from the rescue image.
STANDIN_PACKAGES = [
    "systemd-sysv", "udev", "dbus", "libpam-systemd", "openssh-server", "python3", "sudo",
    "zfsutils-linux", "cryptsetup-bin", "grub-pc-bin", "grub2-common", "iproute2", "kmod",
    "procps", "less", "ca-certificates", "util-linux", "zstd",
]
STANDIN_DIR = Path(__file__).resolve().parent / "standin"
# What stage 1 does not need from the stand-in's root (the initrd is the same userland).
STANDIN_INITRD_EXCLUDE = [
    "./usr/lib/python3*", "./usr/bin/python3*", "./usr/lib/grub", "./usr/share/grub",
    "./usr/lib/x86_64-linux-gnu/perl*", "./usr/share/perl*", "./usr/bin/perl*",
    "./usr/share/zoneinfo", "./usr/share/i18n", "./usr/share/locale", "./var/lib/apt",
    "./var/cache", "./var/lib/dpkg", "./usr/lib/standin", "./usr/share/mime",
    "./usr/lib/modules/*/kernel/fs", "./usr/lib/modules/*/kernel/sound",
    "./usr/lib/modules/*/kernel/drivers/gpu",
    "./usr/lib/modules/*/kernel/drivers/hid", "./usr/lib/modules/*/kernel/drivers/input",
    "./usr/lib/modules/*/kernel/drivers/infiniband", "./usr/lib/modules/*/kernel/drivers/nvme",
    "./usr/lib/modules/*/kernel/drivers/xen", "./usr/lib/modules/*/kernel/drivers/hv",
]
HOOKS_DIR = Path(__file__).resolve().parent / "hooks"


def hook_text(name: str) -> str:
    """The commands of ``hooks/<name>.sh``: the file without its header (the shebang and
    the comment lines before the first blank line).  Only the commands count in the cache
    key, so a new comment or shellcheck directive does not rebuild an image."""
    text = (HOOKS_DIR / f"{name}.sh").read_text()
    return text[text.index("\n\n") + 1:]


# The customize hooks, run on the host with $1 = the chroot: the shared guest
# configuration, then the image's own part in the same shell; the stand-in's pre-hook
# ($2: the rescue initramfs) runs before the shared one; strip.sh runs last.
STANDIN_PRE_HOOK = hook_text("standin-pre")
COMMON_HOOK = hook_text("common")
RESCUE_HOOK = COMMON_HOOK + hook_text("rescue")
DISK_HOOK = COMMON_HOOK + hook_text("disk")
STRIP_HOOK = hook_text("strip")

Progress = Callable[[str], None]


def _print(msg: str) -> None:
    print(msg, flush=True)


class BuildError(RuntimeError):
    pass


# ---------------------------------------------------------------- host facts (read only)

def host_mirrors(texts: list[str] | None = None) -> tuple[str, str]:
    """The Debian and debian-security mirror URLs the host's apt uses (read only).
    texts: the sources files' contents (default: read /etc/apt/sources.list{,.d/*})."""
    mirror, security = DEFAULT_MIRROR, DEFAULT_SECURITY
    if texts is None:
        texts = []
        for p in (sorted(Path("/etc/apt/sources.list.d").glob("*"))
                  + [Path("/etc/apt/sources.list")]):
            with contextlib.suppress(OSError):
                texts.append(p.read_text())
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.findall(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = " ".join(re.findall(r"^Suites:\s*(.+)$", stanza, re.M))
            for uri in uris:
                if f"{SUITE}-security" in suites:
                    security = uri.rstrip("/")
                elif re.search(rf"(^|\s){SUITE}(\s|$)", suites):
                    mirror = uri.rstrip("/")
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            uri, suite = m.group(1).rstrip("/"), m.group(2)
            if suite == f"{SUITE}-security":
                security = uri
            elif suite == SUITE:
                mirror = uri
    return mirror, security


def source_lines() -> list[str]:
    mirror, security = host_mirrors()
    comps = "main contrib"
    return [
        f"deb {mirror} {SUITE} {comps}",
        f"deb {mirror} {SUITE}-updates {comps}",
        f"deb {security} {SUITE}-security {comps}",
    ]


def _standin_files() -> str:
    return "".join(f.name + (STANDIN_DIR / f.name).read_text()
                   for f in sorted(STANDIN_DIR.iterdir()) if f.is_file())


def recipe(kind: str) -> dict:
    extra = {}
    if kind == "rescue":
        pkgs, hook = RESCUE_PACKAGES, RESCUE_HOOK
    elif kind == "disk":
        pkgs, hook = DISK_PACKAGES, DISK_HOOK
    elif kind == "standin":
        pkgs = STANDIN_PACKAGES
        hook = STANDIN_PRE_HOOK + COMMON_HOOK + _standin_files() + repr(STANDIN_INITRD_EXCLUDE)
        # built on top of the rescue image's kernel: a new rescue recipe means a new stand-in
        extra = {"rescue_recipe": recipe_hash("rescue")}
    else:
        raise ValueError(kind)
    return {
        "kind": kind,
        "build_version": BUILD_VERSION[kind],
        "suite": SUITE,
        "sources": source_lines(),
        "packages": sorted(pkgs),
        "hook": hashlib.sha256((hook + STRIP_HOOK).encode()).hexdigest(),
        **extra,
    }


def recipe_hash(kind: str) -> str:
    return hashlib.sha256(json.dumps(recipe(kind), sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- progress

class _Stages:
    def __init__(self, kind: str, progress: Progress):
        self.kind, self.progress, self.t0 = kind, progress, time.monotonic()

    def __call__(self, msg: str) -> None:
        self.progress(f"[{time.monotonic() - self.t0:6.1f}s] {self.kind}: {msg}")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0


def _run_logged(cmd: list[str], log: Path, stage: _Stages, echo: re.Pattern | None = None,
                env: dict | None = None) -> None:
    """Runs cmd, appending its output to log and echoing the lines that match echo."""
    with open(log, "ab") as lf:
        lf.write(("\n$ " + " ".join(cmd) + "\n").encode())
        lf.flush()
        # nice: on a shared machine the lab's VMs (timing-sensitive under TCG) come first
        proc = subprocess.Popen(["nice", "-n", "15", *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        last = [time.monotonic(), ""]
        done = threading.Event()

        def heartbeat() -> None:  # long silent stages (dkms) still show they are alive
            while not done.wait(20):
                if time.monotonic() - last[0] >= 60:
                    stage(f"... still working: {last[1][:100]}")
                    last[0] = time.monotonic()

        threading.Thread(target=heartbeat, daemon=True).start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                lf.write(raw)
                last[1] = raw.decode(errors="replace").strip() or last[1]
                line = raw.decode(errors="replace").rstrip()
                if echo is not None and echo.search(line):
                    stage(re.sub(r"^(I: |lab: )", "", line))
                    last[0] = time.monotonic()
            rc = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            with contextlib.suppress(Exception):
                proc.wait(timeout=30)
            raise
        finally:
            done.set()
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise BuildError(f"{cmd[0]} failed (exit {rc}); last lines of {log}:\n" + "\n".join(tail))


@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- the builds

def _mmdebstrap(kind: str, root: Path, hook_file: Path, strip_file: Path, log: Path,
                stage: _Stages, hook_args: str = "") -> None:
    pkgs = {"rescue": RESCUE_PACKAGES, "disk": DISK_PACKAGES,
            "standin": STANDIN_PACKAGES}[kind]
    cmd = [
        "mmdebstrap", "--mode=root", "--variant=minbase", "--verbose",
        "--aptopt=APT::Install-Recommends \"false\"",
        "--aptopt=Acquire::Retries \"3\"",
        "--include=" + ",".join(pkgs),
        f"--customize-hook=sh {hook_file} \"$1\" {hook_args}",
        f"--customize-hook=sh {strip_file} \"$1\"",
        SUITE, str(root), *source_lines(),
    ]
    env = dict(os.environ, LANG="C", LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    echo = re.compile(r"^(I: (running apt-get update|downloading packages|extracting archives|"
                      r"installing essential|installing remaining|running --customize-hook|"
                      r"cleaning|success)|lab: )")
    _run_logged(cmd, log, stage, echo, env)


def _packages(root: Path) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
         "-f=${Package} ${Version} ${Architecture}\\n"],
        check=True, capture_output=True, text=True).stdout
    return sorted(line for line in out.splitlines() if line.strip())


def _pack_initramfs(root: Path, out: Path, log: Path) -> None:
    """root -> newc cpio -> zstd, with no help from anything but cpio and zstd."""
    with open(out, "wb") as f, open(log, "ab") as lf:
        find = subprocess.Popen(["find", ".", "-xdev", "-print0"], cwd=root,
                                stdout=subprocess.PIPE, stderr=lf)
        srt = subprocess.Popen(["sort", "-z"], stdin=find.stdout, stdout=subprocess.PIPE,
                               stderr=lf)
        cpio = subprocess.Popen(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root,
                                stdin=srt.stdout, stdout=subprocess.PIPE, stderr=lf)
        zst = subprocess.Popen(["zstd", "-q", "-T0", "-9", "-c"], stdin=cpio.stdout, stdout=f,
                               stderr=lf)
        for p in (find, srt, cpio):
            p.stdout.close()  # type: ignore[union-attr]
        rcs = [p.wait() for p in (find, srt, cpio, zst)]
    if any(rcs):
        raise BuildError(f"packing the initramfs failed (exit codes {rcs}); see {log}")


def _make_ext4(root: Path, out: Path, log: Path) -> int:
    used = int(subprocess.run(["du", "-sxb", str(root)], check=True, capture_output=True,
                              text=True).stdout.split()[0])
    size_mib = int(used * 1.3 / 2**20) + 384
    with open(log, "ab") as lf:
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-d", str(root),
                        "-E", "root_owner=0:0", str(out), f"{size_mib}M"],
                       check=True, stdout=lf, stderr=lf)
    return size_mib


def _finish_standin(root: Path, tmp: Path, rescue: Image, log: Path, stage: _Stages) -> None:
    """The stand-in's stage-1 initramfs (its own root minus what stage 1 does not need,
    plus the initrd overlay) and the root file system as a tarball, both with the rescue
    image's kernel. The lab's TCG tuning goes into both, as into the other images."""
    from ..vm import guest_tuning_files
    for path, (data, mode) in guest_tuning_files().items():
        f = root / path.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        f.chmod(mode)
    boot = root / "usr/lib/standin/boot"
    boot.mkdir(parents=True, exist_ok=True)
    shutil.copy2(rescue.kernel, tmp / "vmlinuz")
    shutil.copy2(rescue.kernel, boot / "vmlinuz")
    stage("packing stage 1 (the stand-in's userland, systemd in initrd mode) as zstd")
    excl = " ".join(f"-path {shlex.quote(p)} -prune -o" for p in STANDIN_INITRD_EXCLUDE)
    overlay = root / "usr/lib/standin/initrd"
    q = shlex.quote
    # two newc archives in one zstd stream: the kernel unpacks one after the other
    script = (f"set -euo pipefail; (cd {q(str(root))}; find . -xdev {excl} -print0 | sort -z"
              f" | cpio --null -o -H newc --quiet; cd {q(str(overlay))}; find . -print0"
              f" | sort -z | cpio --null -o -H newc --quiet)"
              f" | zstd -q -T0 -9 -c > {q(str(tmp / 'initrd.img'))}")
    with open(log, "ab") as lf:
        subprocess.run(["bash", "-c", script], check=True, stdout=lf, stderr=lf)
    shutil.copy2(tmp / "initrd.img", boot / "initrd.img")
    stage(f"stage 1: {(tmp / 'initrd.img').stat().st_size / 2**20:.0f} MiB; packing the root")
    with open(log, "ab") as lf:
        subprocess.run(["tar", "--zstd", "--numeric-owner", "--xattrs", "-C", str(root),
                        "-cf", str(tmp / "rootfs.tar.zst"), "."],
                       check=True, stdout=lf, stderr=lf)
    (root / "boot").mkdir(exist_ok=True)


def build(kind: str, progress: Progress = _print, force: bool = False) -> Image:
    """Returns the cached image of this kind for the current recipe, building it if needed.

    force=True builds anew (this re-resolves the package versions, so a changed archive
    gives a new cache key)."""
    if os.geteuid() != 0:
        raise BuildError("building lab images needs root (mmdebstrap --mode=root, mknod)")
    for tool in ("mmdebstrap", "cpio", "zstd", "mke2fs", "dpkg-query"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed; run scripts/install-deps.sh")
    rhash = recipe_hash(kind)
    stage = _Stages(kind, progress)
    if not force:
        img = find_image(kind, rhash)
        if img:
            stage(f"cached: {img.path}")
            return img
    base = images_dir()
    base.mkdir(parents=True, exist_ok=True)
    with _lock(base / f".{kind}.lock"):
        if not force:
            img = find_image(kind, rhash)
            if img:  # somebody else built it while we waited
                stage(f"cached: {img.path}")
                return img
        # Leftovers from interrupted builds are never complete; remove them.
        for old in base.glob(f".tmp-{kind}-*"):
            shutil.rmtree(old, ignore_errors=True)
        tmp = base / f".tmp-{kind}-{os.getpid()}-{int(time.time())}"
        tmp.mkdir()
        try:
            return _build_into(kind, rhash, tmp, base, stage)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _build_into(kind: str, rhash: str, tmp: Path, base: Path, stage: _Stages) -> Image:
    log = tmp / "build.log"
    root = tmp / "root"
    hook = tmp / "hook.sh"
    strip = tmp / "strip.sh"
    hook_args = ""
    if kind == "rescue":
        hook.write_text(RESCUE_HOOK.replace("PURGE_LIST", "|".join(RESCUE_PURGE)))
    elif kind == "disk":
        hook.write_text(DISK_HOOK)
    else:
        rescue = build("rescue", stage.progress)
        hook.write_text(STANDIN_PRE_HOOK + COMMON_HOOK
                        + f'sh {STANDIN_DIR / "hook.sh"} "$1" {STANDIN_DIR}\n')
        hook_args = str(rescue.initrd)
    strip.write_text(STRIP_HOOK)
    stage(f"building in {tmp} (log: {log})")
    _mmdebstrap(kind, root, hook, strip, log, stage, hook_args)
    packages = _packages(root)
    phash = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:12]
    kver = (root / "etc/lab-kernel-version").read_text().strip()
    if kind == "standin":
        _finish_standin(root, tmp, rescue, log, stage)
    elif kind == "rescue":
        shutil.copy2(root / "boot" / f"vmlinuz-{kver}", tmp / "vmlinuz")
        for f in (root / "boot").iterdir():
            f.unlink() if not f.is_dir() else shutil.rmtree(f)
        stage("packing the root filesystem as a zstd initramfs")
        _pack_initramfs(root, tmp / "initrd.img", log)
    else:
        shutil.copy2(root / "boot" / f"vmlinuz-{kver}", tmp / "vmlinuz")
        shutil.copy2(root / "boot" / f"initrd.img-{kver}", tmp / "initrd.img")
        stage("writing the root filesystem as an ext4 image (mke2fs -d)")
        size = _make_ext4(root, tmp / "rootfs.ext4", log)
        stage(f"ext4 image {size} MiB")
    shutil.rmtree(root)
    manifest = {
        "kind": kind,
        "recipe": rhash,
        "packages_hash": phash,
        "kernel_version": kver,
        "built_at": time.time(),
        "build_seconds": round(stage.elapsed, 1),
        "recipe_detail": recipe(kind),
        "packages": packages,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    final = base / f"{kind}-{rhash}-{phash}"
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    img = Image(kind, final, manifest)
    # Older images of this kind are superseded (running VMs keep their open files).
    for old in base.glob(f"{kind}-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    stage(f"done in {stage.elapsed:.0f}s: {final} ({img.size_bytes() / 2**20:.0f} MiB)")
    return img


def main(argv: list[str] | None = None) -> int:  # python -m lab.images.build rescue|disk
    args = argv if argv is not None else sys.argv[1:]
    force = "--force" in args
    for kind in [a for a in args if not a.startswith("-")] or ["rescue", "disk", "standin"]:
        build(kind, force=force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
