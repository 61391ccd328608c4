#!/bin/sh
# mmdebstrap customize hook run last for every image ($1 = the chroot): documentation,
# apt caches, logs and locales go.

set -eu
R="$1"
rm -rf "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* \
    "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_* \
    "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/*
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
