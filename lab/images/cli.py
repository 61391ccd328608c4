"""``hcloud-lab images``: build and inspect the lab VM images.

    hcloud-lab images build [--rescue] [--disk] [--standin] [--force]   build or reuse the cache
    hcloud-lab images status [--json]                        what is cached, where
    hcloud-lab images path KIND [--file NAME]                where a current image is
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .store import KINDS, cache_dir, images_dir, list_images


def register(sub) -> None:
    p = sub.add_parser("images", help="build and inspect the lab VM images (rescue, disk)")
    isub = p.add_subparsers(dest="images_command", required=True)

    b = isub.add_parser("build", help="build the images, or reuse the cached ones")
    b.add_argument("--rescue", action="store_true", help="the rescue image (ZFS, LUKS)")
    b.add_argument("--disk", action="store_true", help="the disk image (debian-12)")
    b.add_argument("--standin", action="store_true",
                   help="the stand-in system the lab installs where NixOS would go (not NixOS)")
    b.add_argument("--force", action="store_true",
                   help="build anew even if cached (re-resolves the package versions)")
    b.set_defaults(func=cmd_build)

    s = isub.add_parser("status", help="show the cached images")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    pa = isub.add_parser("path", help="print where a built image (or one of its files) is")
    pa.add_argument("kind", choices=KINDS)
    pa.add_argument("--file", help="one of the image's files, e.g. rootfs.tar.zst")
    pa.set_defaults(func=cmd_path)


def cmd_build(args) -> int:
    from .build import BuildError, build
    kinds = [k for k in KINDS if getattr(args, k)] or list(KINDS)
    t0 = time.monotonic()
    for kind in kinds:
        try:
            build(kind, force=args.force)
        except BuildError as exc:
            print(f"hcloud-lab images: building the {kind} image failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"hcloud-lab images: interrupted; no half-built {kind} image was kept",
                  file=sys.stderr)
            return 130
    print(f"images ready in {time.monotonic() - t0:.1f}s (cache {images_dir()})", flush=True)
    return 0


def cmd_path(args) -> int:
    from .build import recipe_hash
    from .store import find_image
    img = find_image(args.kind, recipe_hash(args.kind))
    if img is None:
        print(f"hcloud-lab images: no current {args.kind} image; build it with "
              f"`hcloud-lab images build --{args.kind}`", file=sys.stderr)
        return 1
    path = img.path / args.file if args.file else img.path
    if not path.exists():
        print(f"hcloud-lab images: {path} does not exist", file=sys.stderr)
        return 1
    print(path)
    return 0


def _describe(img) -> dict:
    m = img.manifest
    return {
        "kind": img.kind, "path": str(img.path), "recipe": m.get("recipe"),
        "packages_hash": m.get("packages_hash"), "kernel": m.get("kernel_version"),
        "built": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.get("built_at", 0))),
        "build_seconds": m.get("build_seconds"), "size_mib": round(img.size_bytes() / 2**20),
        "packages": len(m.get("packages", [])),
    }


def cmd_status(args) -> int:
    from .build import recipe_hash
    rows = []
    for kind in KINDS:
        imgs = list_images(kind)
        want = recipe_hash(kind)
        current = next((i for i in imgs if i.recipe == want), None)
        row = {"kind": kind, "current_recipe": want, "up_to_date": current is not None,
               "images": [_describe(i) for i in imgs]}
        rows.append(row)
    if args.json:
        print(json.dumps({"cache": str(cache_dir()), "images": rows}, indent=2))
        return 0
    print(f"cache {images_dir()}")
    for row in rows:
        if not row["images"]:
            print(f"  {row['kind']:<7} not built  (hcloud-lab images build --{row['kind']})")
            continue
        for d in row["images"]:
            state = "current" if d["recipe"] == row["current_recipe"] else \
                "stale recipe (rebuild: hcloud-lab images build --" + row["kind"] + ")"
            print(f"  {d['kind']:<7} {state}: kernel {d['kernel']}, {d['size_mib']} MiB, "
                  f"{d['packages']} packages, built {d['built']} in {d['build_seconds']}s")
            print(f"          {d['path']}")
    return 0


def main(argv=None) -> int:  # python -m lab.images.cli ...
    parser = argparse.ArgumentParser(prog="hcloud-lab")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
