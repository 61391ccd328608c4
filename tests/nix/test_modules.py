"""The project's NixOS modules (nix/modules/*) evaluated offline with the real nixpkgs lib
of the 25.05 branch-off: lib.evalModules, mkIf, mkMerge, mkDefault, mkAfter and types are
nixpkgs' own (tests/nix/modules/eval.nix, whose header says exactly what it does).

What is real here: our `vps.*` options (declared by our modules: their types, defaults
and assertions), the host JSON's settings flowing into them (nix/lib), and the module
system's merging (priorities, conditions, order) of everything our modules define.

What is not here, and not imitated: NixOS's own option declarations and modules. The
definitions our modules make for NixOS's options (boot.*, networking.*, services.*) are
read back as definitions, merged by the real lib, under one freeform type at the root; no
test asserts a NixOS default or a NixOS type. Where a NixOS module's own *definition*
matters (grub.nix defines boot.loader.grub.devices itself), the test adds that definition,
cites it, and says so. Two NixOS values that our storage assertion reads
(boot.zfs.package, pkgs.linuxPackages) are plain data chosen by the test (STAND_IN).
Whether NixOS accepts all of this is what `nix flake check` with the nixpkgs input proves
(docs/implementation.md, "What only nix flake check can prove").

The tests skip, with the reason, where the lib is absent (nix_helpers.nixpkgs_lib).
"""
import copy
import json
from pathlib import Path

import pytest

from nix_helpers import EXAMPLE_FILE, NixError, lib_expr, nix_path, read_host_expr

EVAL = Path(__file__).resolve().parent / "modules" / "eval.nix"
EXAMPLE = json.loads(EXAMPLE_FILE.read_text())

# The NixOS values the storage layer's ZFS/kernel assertion reads (see the docstring).
STAND_IN = """{
  boot.zfs.package = { name = "zfs-stand-in"; kernelModuleAttribute = "zfs_stand_in"; };
  pkgs.linuxPackages = { kernel.version = "6.12-stand-in"; zfs_stand_in.meta.broken = false; };
}"""

HETZNER_RESOLVERS = ["2a01:4ff:ff00::add:1", "2a01:4ff:ff00::add:2"]
DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678"


@pytest.fixture
def evaluate(nix, nixpkgs_lib, write_host):
    """evaluate(attr, host=EXAMPLE | dict | None, extra=[module source], values=STAND_IN):
    the JSON value of the Nix expression `attr`, in which `h` is the evaluation
    (h.nixos: what our modules define for NixOS's options; h.config; h.options;
    h.failedAssertions) and `lib` is the nixpkgs lib."""

    def run(attr, host=EXAMPLE, extra=(), values=STAND_IN):
        host_file = "null" if host is None else nix_path(write_host(host))
        modules = " ".join(f"({m})" for m in extra)
        expr = (
            f"let h = import {nix_path(EVAL)} {{ nixpkgsLib = {nix_path(nixpkgs_lib)}; "
            f"hostFile = {host_file}; extraModules = [ {modules} ]; nixosValues = {values}; }}; "
            f"lib = h.lib; in {attr}"
        )
        return nix.eval(expr)

    return run


def mutated(change):
    doc = copy.deepcopy(EXAMPLE)
    change(doc)
    return doc


def v6_only(doc):
    doc["network"]["ipv4"] = None


def without_nameservers(doc):
    del doc["network"]["nameservers"]


def aarch64(doc):
    doc["architecture"] = "aarch64"


# ---- the example host, whole ----


def test_the_example_host_passes_every_assertion_of_ours(evaluate):
    assert evaluate("h.failedAssertions") == []


# ---- 1. the ZFS import waits for the pool's LUKS container ----


def test_zfs_import_is_ordered_after_and_wants_the_luks_container(evaluate):
    # zfs.nix (nixos-25.05) orders zfs-import-<pool>.service after udev-settle,
    # modules-load and ask-password-console only; systemd-cryptsetup-generator names the
    # container's unit systemd-cryptsetup@<name>.service (name = the crypttab line's,
    # which luksroot.nix takes from boot.initrd.luks.devices.<name>).
    units = ["systemd-cryptsetup@cryptroot.service", "cryptsetup.target"]
    services = evaluate("h.nixos.boot.initrd.systemd.services")
    assert services["zfs-import-rpool"] == {"after": units, "wants": units}
    assert evaluate("h.nixos.boot.initrd.luks.devices") == {
        "cryptroot": {"device": DISK + "-part3", "allowDiscards": True, "bypassWorkqueues": True}
    }
    # The rollback runs after the import, before /sysroot is mounted.
    rollback = services["vps-rollback-root"]
    assert rollback["after"] == ["zfs-import-rpool.service"] and rollback["before"] == ["sysroot.mount"]


def test_the_unit_name_escapes_a_hyphen_as_systemd_does(evaluate):
    # unit_name_escape(): "-" in an instance name is \x2d (crypt-root ->
    # systemd-cryptsetup@crypt\x2droot.service); other pool names follow the pool.
    def change(d):
        d["storage"]["luks"]["name"] = "crypt-root_0"
        d["storage"]["pool"]["name"] = "tank"
        d["storage"]["rollback"]["enable"] = False
        d["storage"]["rollback"]["snapshot"] = None

    services = evaluate("h.nixos.boot.initrd.systemd.services", host=mutated(change))
    assert services == {
        "zfs-import-tank": {
            "after": ["systemd-cryptsetup@crypt\\x2droot_0.service", "cryptsetup.target"],
            "wants": ["systemd-cryptsetup@crypt\\x2droot_0.service", "cryptsetup.target"],
        }
    }


def test_a_mapper_name_that_systemd_would_escape_otherwise_is_refused(evaluate):
    with pytest.raises(NixError) as exc:
        evaluate("h.config.vps.storage.luks.name", extra=['{ vps.storage.luks.name = "crypt.root"; }'])
    assert "is not of type `string matching the pattern [A-Za-z0-9_-]{1,64}'" in exc.value.message


@pytest.mark.parametrize(
    "module",
    [
        "{ lib, ... }: { boot.initrd.systemd.enable = lib.mkForce false; }",
        "{ vps.storage.luks.enable = false; }",
    ],
    ids=["scripted initrd", "no LUKS"],
)
def test_no_import_ordering_without_systemd_initrd_or_luks(evaluate, module):
    # The scripted initrd opens LUKS before it imports pools; without LUKS there is no
    # container to wait for.
    services = evaluate("h.nixos.boot.initrd.systemd.services or {}", extra=[module])
    assert "zfs-import-rpool" not in services


# ---- 2. grub devices at normal priority ----

# nixos/modules/system/boot/loader/grub/grub.nix defines, at normal priority,
#   boot.loader.grub.devices = optional (cfg.device != "") cfg.device;
# which is [ ] when boot.loader.grub.device is unset (as here). This is that definition.
GRUB_NIX_DEVICES = "{ boot.loader.grub.devices = [ ]; }"


def test_grub_devices_survive_grub_nix_own_definition(evaluate):
    assert evaluate("h.nixos.boot.loader.grub.devices", extra=[GRUB_NIX_DEVICES]) == [DISK]


def test_grub_on_arm_installs_to_the_esp_only(evaluate):
    got = evaluate("h.nixos.boot.loader.grub", host=mutated(aarch64), extra=[GRUB_NIX_DEVICES])
    assert got["devices"] == ["nodev"] and got["efiSupport"] is True and got["efiInstallAsRemovable"] is True


def test_a_mkdefault_devices_loses_to_a_normal_definition(evaluate):
    # Why the fix matters, shown with the same lib: a mkDefault definition (the module's
    # old one) is dropped when grub.nix's plain [ ] exists, leaving no install target.
    got = evaluate(
        "h.nixos.boot.loader.grub.devices",
        extra=['{ lib, ... }: { boot.loader.grub.devices = lib.mkDefault [ "/dev/old-mkdefault" ]; }',
               GRUB_NIX_DEVICES],
    )
    assert got == [DISK]


# ---- 3. console order: the screen last ----


def consoles(params):
    return [p for p in params if p.startswith("console=")]


def test_the_screen_is_the_last_console_on_x86(evaluate):
    params = evaluate("h.nixos.boot.kernelParams")
    assert consoles(params) == ["console=ttyS0,115200n8", "console=tty0"]
    assert "zfs.zfs_arc_max=1073741824" in params
    assert evaluate("h.nixos.boot.initrd.kernelModules") == []


def test_the_screen_stays_last_after_other_definitions(evaluate):
    # mkAfter: a console= that another module adds at normal order comes before it.
    params = evaluate("h.nixos.boot.kernelParams", extra=['{ boot.kernelParams = [ "console=ttyS1,9600" ]; }'])
    assert consoles(params)[-1] == "console=tty0"
    assert set(consoles(params)) == {"console=ttyS0,115200n8", "console=ttyS1,9600", "console=tty0"}


def test_arm_uses_console_tty_and_the_display_driver_in_the_initrd(evaluate):
    host = mutated(aarch64)
    assert consoles(evaluate("h.nixos.boot.kernelParams", host=host)) == ["console=ttyAMA0,115200n8", "console=tty"]
    assert evaluate("h.nixos.boot.initrd.kernelModules", host=host) == ["virtio_gpu"]
    assert evaluate("h.nixos.nixpkgs.hostPlatform", host=host) == "aarch64-linux"


def test_without_the_serial_console_only_the_screen(evaluate):
    got = evaluate("h.nixos.boot.kernelParams", extra=["{ vps.hardware.serialConsole = false; }"])
    assert consoles(got) == ["console=tty0"]


# ---- 4. resolvers ----


def uplinks(evaluate, host):
    return evaluate(
        "{ system = h.nixos.systemd.network.networks.\"10-uplink\"; "
        "initrd = h.nixos.boot.initrd.systemd.network.networks.\"10-uplink\"; "
        "nameservers = h.nixos.networking.nameservers; }",
        host=host,
    )


def test_an_ipv6_only_host_uses_hetzners_resolvers(evaluate):
    got = uplinks(evaluate, mutated(lambda d: (v6_only(d), without_nameservers(d))))
    assert got["nameservers"] == HETZNER_RESOLVERS
    assert got["system"]["networkConfig"] == {"DHCP": "no", "IPv6AcceptRA": False}
    assert got["system"]["address"] == ["2001:db8:1234:5678::1/64"]
    assert got["system"]["routes"] == [{"Gateway": "fe80::1"}]
    assert "dhcpV4Config" not in got["system"]


def test_with_dhcp_and_no_field_dhcp_supplies_the_resolvers(evaluate):
    got = uplinks(evaluate, mutated(without_nameservers))
    assert got["nameservers"] == []
    assert got["system"]["networkConfig"]["DHCP"] == "ipv4"
    assert "dhcpV4Config" not in got["system"] and "dhcpV4Config" not in got["initrd"]


def test_the_host_json_overrides_the_resolvers(evaluate):
    # With DHCP on, the listed ones replace DHCP's (UseDNS=false), in the initrd too.
    got = uplinks(evaluate, EXAMPLE)
    assert got["nameservers"] == ["2a01:4ff:ff00::add:1", "185.12.64.1"]
    assert got["system"]["dhcpV4Config"] == {"UseDNS": False}
    assert got["initrd"] == got["system"]
    got = uplinks(evaluate, mutated(lambda d: (v6_only(d), d["network"].update(nameservers=["2001:db8::53"]))))
    assert got["nameservers"] == ["2001:db8::53"]
    assert "dhcpV4Config" not in got["system"]


# ---- 5. node exporter on both families ----


def test_the_node_exporter_listens_on_both_families(evaluate):
    got = evaluate("h.nixos.services.prometheus.exporters.node")
    assert got["listenAddress"] == "[::]" and got["port"] == 9100 and got["openFirewall"] is False
    rules = evaluate("h.nixos.networking.firewall.extraInputRules").splitlines()
    assert rules == [
        "ip saddr { 10.0.0.0/16 } tcp dport 9100 accept",
        "ip6 saddr { 2001:db8:ffff::/48 } tcp dport 9100 accept",
    ]


# ---- 6. machine-id survives the rollback ----


def test_machine_id_lives_below_persist_when_the_root_is_rolled_back(evaluate):
    got = evaluate("h.nixos.environment.etc")
    assert got == {"machine-id": {"source": "/persist/etc/machine-id"}}
    assert "/persist" in evaluate("h.nixos.fileSystems") and evaluate(
        "h.nixos.fileSystems.\"/persist\".neededForBoot") is True


def test_no_machine_id_link_without_rollback(evaluate):
    def change(d):
        d["storage"]["rollback"] = {"enable": False, "snapshot": None}
        d["initrdUnlock"]["hostKeyPath"] = "/etc/secrets/initrd/ssh_host_ed25519_key"

    got = evaluate("h.nixos.environment or {}", host=mutated(change))
    assert "etc" not in got


# ---- the system's SSH host key: where the base role puts (and pins) it ----


@pytest.mark.parametrize("rollback", [True, False])
def test_the_ssh_host_key_is_on_persist_with_or_without_rollback(evaluate, rollback):
    def change(d):
        if not rollback:
            d["storage"]["rollback"] = {"enable": False, "snapshot": None}

    got = evaluate("h.nixos.services.openssh.hostKeys", host=mutated(change))
    assert got == [{"path": "/persist/etc/ssh/ssh_host_ed25519_key", "type": "ed25519"}]


def test_the_ssh_host_key_is_in_etc_without_a_persist_dataset(evaluate):
    def change(d):
        d["storage"]["rollback"] = {"enable": False, "snapshot": None}
        d["storage"]["pool"]["datasets"] = [x for x in d["storage"]["pool"]["datasets"]
                                            if x["mountpoint"] != "/persist"]
        d["initrdUnlock"]["hostKeyPath"] = "/etc/secrets/initrd/ssh_host_ed25519_key"

    got = evaluate("h.nixos.services.openssh.hostKeys", host=mutated(change))
    assert got == [{"path": "/etc/ssh/ssh_host_ed25519_key", "type": "ed25519"}]


# ---- 8. the QEMU guest agent ----


def test_the_qemu_guest_agent_is_on_and_can_be_turned_off(evaluate):
    assert evaluate("h.nixos.services.qemuGuest") == {"enable": True}
    assert evaluate("h.nixos.services.qemuGuest.enable", extra=["{ services.qemuGuest.enable = false; }"]) is False


# ---- the harness itself: conflicting scalar definitions are errors, not guesses ----


def test_differing_definitions_of_a_scalar_are_an_error(evaluate):
    with pytest.raises(NixError) as exc:
        evaluate("h.nixos.networking.hostId", extra=['{ networking.hostId = "deadbeef"; }'])
    assert "The option `networking.hostId' has conflicting definition values" in exc.value.message


# ---- our options: types and defaults, and the settings the lib hands to them ----

# Every vps.* option: (type as the lib describes it, default). A change to an option's
# type or default shows up here.
OPTIONS = {
    "vps.base.admins": ("attribute set of (submodule)", {}),
    "vps.base.bootEntries": ("positive integer, meaning >0", 10),
    "vps.base.gc.olderThan": ("string", "14d"),
    "vps.base.hostName": ("null or string", None),
    "vps.base.journald.maxRetention": ("string", "1month"),
    "vps.base.journald.maxUse": ("string", "1G"),
    "vps.base.stateVersion": ("null or string matching the pattern [0-9]{2}\\.(05|11)", None),
    "vps.hardware.architecture": ('one of "x86_64", "aarch64"', "x86_64"),
    "vps.hardware.bootMode": ('one of "bios", "efi"', "bios"),
    "vps.hardware.disks": ("list of string", []),
    "vps.hardware.espDevice": ("null or string", None),
    "vps.hardware.network.interface": ("string", "en*"),
    "vps.hardware.network.ipv4.address": ("null or string", None),
    "vps.hardware.network.ipv4.dhcp": ("boolean", True),
    "vps.hardware.network.ipv6.address": ("null or string", None),
    "vps.hardware.network.ipv6.gateway": ("string", "fe80::1"),
    "vps.hardware.network.ipv6.prefixLength": ("integer between 1 and 128 (both inclusive)", 64),
    "vps.hardware.network.nameservers": ("null or (list of string)", None),
    "vps.hardware.ntpServers": ("list of string", ["ntp1.hetzner.de", "ntp2.hetzner.com", "ntp3.hetzner.net"]),
    "vps.hardware.serialConsole": ("boolean", True),
    "vps.persist.directory": ("null or string", None),
    "vps.persist.paths": ("list of string", []),
    "vps.security.autoUpgrade.allowReboot": ("boolean", False),
    "vps.security.autoUpgrade.enable": ("boolean", False),
    "vps.security.autoUpgrade.flake": ("null or string", None),
    "vps.security.fail2ban.enable": ("boolean", True),
    "vps.security.firewall.extraTcpPorts": ("list of 16 bit unsigned integer; between 0 and 65535 (both inclusive)", []),
    "vps.security.firewall.extraUdpPorts": ("list of 16 bit unsigned integer; between 0 and 65535 (both inclusive)", []),
    "vps.security.insecure.passwordAuthentication": ("boolean", False),
    "vps.security.insecure.sudoWithoutExecWheelOnly": ("boolean", False),
    "vps.security.ssh.loginGraceTime": ("positive integer, meaning >0", 30),
    "vps.security.ssh.maxAuthTries": ("positive integer, meaning >0", 3),
    "vps.security.ssh.permitRootLogin": ('one of "no", "prohibit-password"', "no"),
    "vps.security.ssh.port": ("16 bit unsigned integer; between 0 and 65535 (both inclusive)", 22),
    "vps.services.nginx.acmeEmail": ("null or string", None),
    "vps.services.nginx.enable": ("boolean", False),
    "vps.services.nginx.vhosts": ("attribute set of (submodule)", {}),
    "vps.services.nodeExporter.allowedCidrs": ("list of string", []),
    "vps.services.nodeExporter.enable": ("boolean", False),
    "vps.services.nodeExporter.port": ("16 bit unsigned integer; between 0 and 65535 (both inclusive)", 9100),
    "vps.services.postgresql.dataset": ("null or string", None),
    "vps.services.postgresql.enable": ("boolean", False),
    "vps.storage.arcMaxBytes": ("null or (positive integer, meaning >0)", None),
    "vps.storage.autoScrub": ("boolean", True),
    "vps.storage.autoSnapshot": ("boolean", False),
    "vps.storage.datasetFileSystems": ("attribute set of (attribute set)", {}),
    "vps.storage.hostId": ("null or string matching the pattern [0-9a-f]{8}", None),
    "vps.storage.initrdUnlock.authorizedKeys": ("list of string", []),
    "vps.storage.initrdUnlock.enable": ("boolean", False),
    "vps.storage.initrdUnlock.hostKeyPath": ("null or string", None),
    "vps.storage.initrdUnlock.port": ("16 bit unsigned integer; between 0 and 65535 (both inclusive)", 2222),
    "vps.storage.luks.device": ("null or string", None),
    "vps.storage.luks.enable": ("boolean", True),
    "vps.storage.luks.name": ("string matching the pattern [A-Za-z0-9_-]{1,64}", "cryptroot"),
    "vps.storage.pool.datasets": ("attribute set of (submodule)", {}),
    "vps.storage.pool.name": ("string", "rpool"),
    "vps.storage.rollback.enable": ("boolean", False),
    "vps.storage.rollback.snapshot": ("null or string", None),
    "vps.storage.trim": ("boolean", True),
}

OPTIONS_EXPR = (
    "map (o: { loc = lib.showOption o.loc; type = o.type.description; "
    "hasDefault = o ? default; default = o.default or null; "
    "defaultTypeChecks = !(o ? default) || o.type.check o.default; "
    "described = (o.description or \"\") != \"\"; }) (lib.collect lib.isOption h.options.vps)"
)


def test_every_vps_option_type_and_default(evaluate):
    # Without a host: the defaults as declared (bootMode's follows architecture's).
    got = evaluate(OPTIONS_EXPR, host=None)
    assert {o["loc"]: (o["type"], o["default"]) for o in got} == OPTIONS
    assert [o["loc"] for o in got if not o["hasDefault"]] == []
    assert [o["loc"] for o in got if not o["defaultTypeChecks"]] == []
    assert [o["loc"] for o in got if not o["described"]] == []


def test_the_boot_mode_default_follows_the_architecture(evaluate):
    assert evaluate("h.config.vps.hardware.bootMode", host=mutated(aarch64)) == "efi"


def test_the_settings_are_declared_options_of_the_modules(evaluate, nix):
    # The real option tree, not the textual parser of test_crosscheck: every leaf of the
    # lib's settings for the example is a declared vps option (or lies inside one, for
    # attrsOf-submodule options whose keys are data).
    settings = nix.eval(f"{lib_expr()}.settings ({read_host_expr(EXAMPLE_FILE)})")
    declared = set(OPTIONS)

    def leaves(value, path):
        if f"vps.{path}" in declared:
            return set()
        if isinstance(value, dict) and value:
            out = set()
            for k, v in value.items():
                out |= leaves(v, f"{path}.{k}")
            return out
        return {f"vps.{path}"}

    undeclared = set()
    for layer, value in settings.items():
        undeclared |= leaves(value, layer)
    assert undeclared == set()
    assert evaluate("h.config.vps.hardware.network.nameservers") == ["2a01:4ff:ff00::add:1", "185.12.64.1"]


# ---- our assertions' messages ----


def test_a_bare_evaluation_fails_with_each_required_setting_named(evaluate):
    assert evaluate("h.failedAssertions", host=None) == [
        "vps.base.stateVersion is not set; set it to the NixOS release the host was installed with (e.g. \"25.05\").",
        "vps.base.admins is empty: users are immutable and root cannot log in, so nobody could administer the host.",
        "vps.storage.hostId is not set; ZFS needs a stable networking.hostId (8 hex digits).",
        "vps.storage.luks.device is not set; set it to the LUKS2 partition by id (or set vps.storage.luks.enable = false to store data unencrypted).",
        "vps.storage.pool.datasets: no dataset is mounted at /.",
        "vps.hardware.disks is empty: BIOS boot needs the disk(s) to install GRUB to.",
        "vps.hardware.espDevice is not set: /boot lives on the EFI system partition.",
    ]


ASSERTION_CASES = [
    ("{ lib, ... }: { vps.hardware.network.ipv4.dhcp = lib.mkForce false; vps.hardware.network.ipv6.address = lib.mkForce null; }",
     "vps.hardware.network: no IPv4 (DHCP off) and no IPv6 address; the server would be unreachable."),
    ('{ lib, ... }: { vps.storage.rollback.snapshot = lib.mkForce "rpool/local/nix@blank"; }',
     "vps.storage.rollback.snapshot rpool/local/nix@blank is not a snapshot of the root dataset."),
    ("{ lib, ... }: { vps.storage.rollback.snapshot = lib.mkForce null; }",
     'vps.storage.rollback.enable needs vps.storage.rollback.snapshot (e.g. "rpool/local/root@blank").'),
    ("{ lib, ... }: { vps.storage.initrdUnlock.port = lib.mkForce 22; }",
     "vps.storage.initrdUnlock.port 22 is also the system sshd's port; use another one."),
    ('{ lib, ... }: { vps.storage.initrdUnlock.hostKeyPath = lib.mkForce "/nix/store/key"; }',
     "vps.storage.initrdUnlock.hostKeyPath is in the Nix store, which is world-readable; keep the key outside it."),
    ('{ lib, ... }: { vps.storage.initrdUnlock.hostKeyPath = lib.mkForce "/persist/etc/ssh/ssh_host_ed25519_key"; }',
     "vps.storage.initrdUnlock.hostKeyPath is one of the system sshd's host keys; the initrd needs its own (it sits unencrypted on /boot)."),
    ("{ lib, ... }: { vps.storage.initrdUnlock.authorizedKeys = lib.mkForce [ ]; }",
     "vps.storage.initrdUnlock.authorizedKeys is empty; nobody could unlock the disk."),
    ("{ vps.security.autoUpgrade.enable = true; }",
     "vps.security.autoUpgrade.enable needs vps.security.autoUpgrade.flake (where to upgrade from)."),
    ("{ lib, ... }: { vps.services.nginx.acmeEmail = lib.mkForce null; }",
     "vps.services.nginx.enable needs vps.services.nginx.acmeEmail (the Let's Encrypt account)."),
    ("{ lib, ... }: { vps.services.postgresql.dataset = lib.mkForce \"safe/pg\"; }",
     "vps.services.postgresql.dataset safe/pg is not in vps.storage.pool.datasets; add it (mountpoint /var/lib/postgresql) and let the storage role create it."),
]


@pytest.mark.parametrize("module, message", ASSERTION_CASES, ids=[m for _, m in ASSERTION_CASES])
def test_assertion_message(evaluate, module, message):
    assert evaluate("h.failedAssertions", extra=[module]) == [message]


def test_an_unsupported_kernel_is_named_with_the_zfs_version(evaluate):
    # The stand-in package data says the ZFS module is broken for this kernel.
    broken = STAND_IN.replace("meta.broken = false", "meta.broken = true")
    assert evaluate("h.failedAssertions", values=broken) == [
        "boot.kernelPackages (6.12-stand-in) is not supported by zfs-stand-in; use a kernel that ZFS supports (the default pkgs.linuxPackages is)."
    ]
