#!/usr/bin/env bash
# Re-creates the *.host.* fixtures: real blkid/wipefs/sgdisk/cryptsetup outputs, captured
# on the host against disk-image files (needs util-linux, gdisk, cryptsetup-bin, fdisk,
# e2fsprogs, xfsprogs, btrfs-progs). UUIDs differ on every run; the tests do not pin them
# except where they read the same capture.
set -euo pipefail
F="$(cd "$(dirname "$0")" && pwd)/fixtures"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
for n in blank ext4 swap gpt luks; do truncate -s 64M $n.img; done
truncate -s 320M xfs.img btrfs.img; truncate -s 64M mbr.img
mkfs.ext4 -q -L data ext4.img
mkswap swap.img >/dev/null 2>&1
sgdisk -n1:0:+1M -t1:EF02 -c1:bios -n2:0:0 -t2:8309 -c2:luks gpt.img >/dev/null
printf 'pass-1' | cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 \
  --key-size 512 --pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 \
  --pbkdf-parallel 1 --label cryptroot --sector-size 4096 --key-file - luks.img
mkfs.xfs -q -L x xfs.img; mkfs.btrfs -q -L b btrfs.img >/dev/null
printf 'label: dos\n,32M,83\n,,83\n' | sfdisk -q mbr.img
for t in blank ext4 swap gpt luks xfs btrfs mbr; do
  blkid -p -o export $t.img > "$F/blkid_$t.host.txt" || true
  wipefs --no-act --json $t.img > "$F/wipefs_$t.host.json"
done
sgdisk -p gpt.img > "$F/sgdisk_p_gpt.host.txt"
sgdisk -p blank.img > "$F/sgdisk_p_blank.host.txt"
sgdisk -p ext4.img > "$F/sgdisk_p_ext4.host.txt"
sgdisk -p mbr.img > "$F/sgdisk_p_mbr.host.txt" 2>&1
cryptsetup luksDump luks.img > "$F/luksdump_luks2.host.txt"
printf 'pass-2' > k2
printf 'pass-1' | cryptsetup luksAddKey --pbkdf-memory 32768 --pbkdf-force-iterations 4 \
  --key-file - luks.img k2
cryptsetup luksDump luks.img > "$F/luksdump_luks2_2keys.host.txt"
truncate -s 64M luks1.img
printf 'pass-1' | cryptsetup luksFormat --batch-mode --type luks1 --cipher aes-cbc-essiv:sha256 \
  --key-size 256 --pbkdf-force-iterations 1000 --key-file - luks1.img
cryptsetup luksDump luks1.img > "$F/luksdump_luks1.host.txt"
echo "fixtures written to $F"
