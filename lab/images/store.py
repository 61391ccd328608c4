"""Where built lab images live, and how to find a complete one (no building here)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("rescue", "disk", "standin")


class ImageMissing(RuntimeError):
    """Raised when a lab image has not been built yet."""

    def __init__(self, kind: str):
        super().__init__(
            f"the lab {kind} image is not built (cache: {images_dir()}). "
            f"Build it with `hcloud-lab images build --{kind}` "
            f"(first build ~5-12 min; later runs reuse the cache)."
        )
        self.kind = kind


def cache_dir() -> Path:
    """The lab cache: $NIXOS_HETZNER_LAB_CACHE or ~/.cache/nixos-hetzner-lab."""
    env = os.environ.get("NIXOS_HETZNER_LAB_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nixos-hetzner-lab"


def images_dir() -> Path:
    return cache_dir() / "images"


@dataclass
class Image:
    kind: str
    path: Path
    manifest: dict = field(default_factory=dict)

    @property
    def kernel(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def rootfs(self) -> Path:
        """The ext4 root filesystem (disk image only)."""
        return self.path / "rootfs.ext4"

    @property
    def rootfs_tarball(self) -> Path:
        """The stand-in system's root file system (standin image only)."""
        return self.path / "rootfs.tar.zst"

    @property
    def recipe(self) -> str:
        return self.manifest.get("recipe", "")

    @property
    def kernel_version(self) -> str:
        return self.manifest.get("kernel_version", "")

    def files(self) -> list[Path]:
        extra = {"disk": ["rootfs.ext4"], "standin": ["rootfs.tar.zst"]}.get(self.kind, [])
        names = ["vmlinuz", "initrd.img"] + extra
        return [self.path / n for n in names]

    def size_bytes(self) -> int:
        total = 0
        for f in self.files():
            try:
                total += f.stat().st_blocks * 512
            except OSError:
                pass
        return total


def _load(kind: str, d: Path) -> Image | None:
    man = d / "manifest.json"
    try:
        data = json.loads(man.read_text())
    except (OSError, ValueError):
        return None
    img = Image(kind, d, data)
    if data.get("kind") != kind or not all(f.is_file() for f in img.files()):
        return None
    return img


def list_images(kind: str) -> list[Image]:
    """Every complete image of this kind, newest first."""
    root = images_dir()
    out = []
    if root.is_dir():
        for d in root.iterdir():
            if d.is_dir() and d.name.startswith(kind + "-"):
                img = _load(kind, d)
                if img:
                    out.append(img)
    out.sort(key=lambda i: i.manifest.get("built_at", 0), reverse=True)
    return out


def find_image(kind: str, recipe: str | None = None) -> Image | None:
    """The newest complete image of this kind (with this recipe hash, if given)."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; expected one of {KINDS}")
    for img in list_images(kind):
        if recipe is None or img.recipe == recipe:
            return img
    return None


def require_image(kind: str) -> Image:
    img = find_image(kind)
    if img is None:
        raise ImageMissing(kind)
    return img
