#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need, if any is missing.
# Only Debian's configured sources are used; the host's apt sources are never changed
# (the lab image build enables `contrib` inside its own chroot, not here).
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils mmdebstrap nix-bin zstd cpio openssh-client gdisk
      e2fsprogs util-linux ca-certificates debian-archive-keyring seabios
      cryptsetup-bin  # cryptsetup-bin: luks_device tests on image files (no dm needed)
      hcloud-cli      # hcloud-cli: the lab tests check that the official CLI works on it
      shellcheck)     # shellcheck: the lint gate checks the lab's image hooks
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo ">> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
