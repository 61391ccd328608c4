"""The flake's lib (nix/lib, builtins only) evaluated for real with nix-instantiate:
host JSON -> validated host -> `vps` settings, with exact values and exact messages."""
import copy
import json
import shutil

import pytest

from nix_helpers import EXAMPLE_FILE, SCHEMA_FILE, NixError, lib_expr, nix_path, nix_str, read_host_expr

SCHEMA = json.loads(SCHEMA_FILE.read_text())

ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFsaWNlLWV4YW1wbGUta2V5LW5vdC1yZWFs alice@laptop"
BOB1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvYi1leGFtcGxlLWtleS1ub3QtcmVhbA bob@desk"
BOB2 = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= bob@yubikey"
UNLOCK = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVubG9jay1leGFtcGxlLWtleS1ub3QtcmVhbA ansible-unlock"
DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678"

EXPECTED_EXAMPLE_SETTINGS = {
    "hardware": {
        "architecture": "x86_64",
        "disks": [DISK],
        "espDevice": DISK + "-part2",
        "network": {
            "nameservers": ["2a01:4ff:ff00::add:1", "185.12.64.1"],
            "ipv4": {"dhcp": True, "address": "203.0.113.10"},
            "ipv6": {"address": "2001:db8:1234:5678::1", "prefixLength": 64, "gateway": "fe80::1"},
        },
    },
    "storage": {
        "hostId": "8425e349",
        "luks": {"name": "cryptroot", "device": DISK + "-part3"},
        "pool": {
            "name": "rpool",
            "datasets": {
                "local/root": {"mountpoint": "/"},
                "local/nix": {"mountpoint": "/nix"},
                "safe/home": {"mountpoint": "/home"},
                "safe/persist": {"mountpoint": "/persist"},
                "safe/postgres": {"mountpoint": "/var/lib/postgresql"},
            },
        },
        "arcMaxBytes": 1024 * 1024 * 1024,
        "autoSnapshot": True,
        "rollback": {"enable": True, "snapshot": "rpool/local/root@blank"},
        "initrdUnlock": {
            "enable": True,
            "port": 2222,
            "authorizedKeys": [UNLOCK],
            "hostKeyPath": "/persist/etc/secrets/initrd/ssh_host_ed25519_key",
        },
    },
    "base": {
        "hostName": "example",
        "stateVersion": "25.05",
        "admins": {"alice": {"sshKeys": [ALICE]}, "bob": {"sshKeys": [BOB1, BOB2]}},
    },
    "security": {"firewall": {"extraTcpPorts": [8443], "extraUdpPorts": [51820]}},
    "services": {
        "nginx": {
            "enable": True,
            "acmeEmail": "hostmaster@example.org",
            "vhosts": {
                "www.example.org": {"aliases": ["example.org"], "root": "/var/www/example.org", "proxyPass": None},
                "app.example.org": {"aliases": [], "root": None, "proxyPass": "http://127.0.0.1:3000"},
            },
        },
        "postgresql": {"enable": True, "dataset": "safe/postgres"},
        "nodeExporter": {"enable": True, "allowedCidrs": ["10.0.0.0/16", "2001:db8:ffff::/48"]},
    },
}


def settings_of(nix, path):
    return nix.eval(f"{lib_expr()}.settings ({read_host_expr(path)})")


def read_error(nix, path):
    with pytest.raises(NixError) as exc:
        nix.eval(read_host_expr(path))
    return exc.value.message


# ---------------------------------------------------------------- the example host


def test_example_host_gives_exact_settings(nix):
    assert settings_of(nix, EXAMPLE_FILE) == EXPECTED_EXAMPLE_SETTINGS


def test_read_host_returns_the_validated_json_unchanged(nix, example):
    assert nix.eval(read_host_expr(EXAMPLE_FILE)) == example


def test_host_module_sets_vps_from_the_host(nix):
    got = nix.eval(f"({lib_expr()}.hostModule ({read_host_expr(EXAMPLE_FILE)})).vps")
    assert got == EXPECTED_EXAMPLE_SETTINGS


def test_schema_version_comes_from_the_schema_file(nix):
    assert nix.eval(f"{lib_expr()}.schemaVersion") == 1


@pytest.mark.parametrize(
    "memory_mib, arc_mib",
    [(1024, 256), (1500, 375), (2048, 512), (4096, 1024), (16384, 4096), (262144, 65536), (800, 256)],
)
def test_arc_max_is_a_quarter_of_memory_at_least_256_mib(nix, memory_mib, arc_mib):
    assert nix.eval(f"{lib_expr()}.arcMaxBytes {memory_mib}") == arc_mib * 1024 * 1024


def test_ipv6_only_and_ipv4_only_hosts(nix, example, write_host):
    v6only = copy.deepcopy(example)
    v6only["network"]["ipv4"] = None
    net = settings_of(nix, write_host(v6only))["hardware"]["network"]
    assert net["ipv4"] == {"dhcp": False, "address": None}
    assert net["ipv6"]["address"] == "2001:db8:1234:5678::1"

    v4only = copy.deepcopy(example)
    v4only["network"]["ipv6"] = None
    net = settings_of(nix, write_host(v4only))["hardware"]["network"]
    assert net == {
        "nameservers": ["2a01:4ff:ff00::add:1", "185.12.64.1"],
        "ipv4": {"dhcp": True, "address": "203.0.113.10"},
        "ipv6": {"address": None},
    }


def test_nameservers_are_optional_and_absent_means_null(nix, example, write_host):
    # The schema's one optional field (an additive change within schemaVersion 1): a file
    # written without it is valid, and the lib hands null (the modules' defaults) on.
    del example["network"]["nameservers"]
    path = write_host(example)
    assert nix.eval(read_host_expr(path)) == example
    assert settings_of(nix, path)["hardware"]["network"]["nameservers"] is None


@pytest.mark.parametrize(
    "value, message",
    [
        ([], "network.nameservers: must have at least 1 item(s), got 0"),
        (["2a01:4ff:ff00::add:1", "2a01:4ff:ff00::add:1"],
         'network.nameservers: items must be unique, "2a01:4ff:ff00::add:1" appears more than once'),
        (["dns.example.org"],
         'network.nameservers[0]: "dns.example.org" does not match ^(([0-9]{1,3}\\.){3}[0-9]{1,3}|[0-9a-f:]{2,39})$'),
    ],
)
def test_nameservers_are_validated(nix, example, write_host, value, message):
    example["network"]["nameservers"] = value
    assert read_error(nix, write_host(example)) == f"nix/hosts/example.json: invalid host JSON:\n  {message}"


def test_minimal_host_without_services(nix, example, write_host):
    doc = copy.deepcopy(example)
    doc["services"] = {
        "nginx": {"enable": False, "acmeEmail": None, "vhosts": []},
        "postgresql": {"enable": False, "dataset": None},
        "nodeExporter": {"enable": False, "allowedCidrs": []},
    }
    doc["storage"]["rollback"] = {"enable": False, "snapshot": None}
    doc["initrdUnlock"] = {"enable": False, "port": 2222, "authorizedKeys": [], "hostKeyPath": None}
    got = settings_of(nix, write_host(doc))
    assert got["services"] == {
        "nginx": {"enable": False, "acmeEmail": None, "vhosts": {}},
        "postgresql": {"enable": False, "dataset": None},
        "nodeExporter": {"enable": False, "allowedCidrs": []},
    }
    assert got["storage"]["rollback"] == {"enable": False, "snapshot": None}
    assert got["storage"]["initrdUnlock"]["enable"] is False
    assert nix.eval(f"{lib_expr()}.requiredDatasets ({read_host_expr(write_host(doc))})") == {}


def test_required_datasets_tell_the_storage_role_what_to_create(nix):
    got = nix.eval(f"{lib_expr()}.requiredDatasets ({read_host_expr(EXAMPLE_FILE)})")
    assert got == {"safe/postgres": {"mountpoint": "/var/lib/postgresql", "properties": {"recordsize": "16k"}}}


def test_hosts_from_dir_finds_every_json_file(nix, example, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    for name in ("web-1", "db-1"):
        doc = copy.deepcopy(example)
        doc["hostname"] = name
        (hosts / f"{name}.json").write_text(json.dumps(doc))
    (hosts / "README.md").write_text("not a host\n")
    (hosts / "old.json.bak").write_text("{}")
    (hosts / "sub.json").mkdir()  # a directory, not a host file
    got = nix.eval(f"builtins.mapAttrs (n: h: h.hostname) ({lib_expr()}.hostsFromDir {{ dir = {nix_path(hosts)}; }})")
    assert got == {"web-1": "web-1", "db-1": "db-1"}


def test_hosts_from_dir_of_the_repository(nix):
    got = nix.eval(f"builtins.attrNames ({lib_expr()}.hostsFromDir {{ dir = {nix_path(EXAMPLE_FILE.parent)}; }})")
    assert got == sorted(p.stem for p in EXAMPLE_FILE.parent.glob("*.json"))
    assert "example" in got


def test_hosts_from_dir_names_the_bad_file(nix, example, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    shutil.copy(EXAMPLE_FILE, hosts / "example.json")
    doc = copy.deepcopy(example)
    doc["hostname"] = "broken"
    del doc["hostId"]
    (hosts / "broken.json").write_text(json.dumps(doc))
    with pytest.raises(NixError) as exc:
        nix.eval(f"{lib_expr()}.hostsFromDir {{ dir = {nix_path(hosts)}; }}")
    assert exc.value.message == "nix/hosts/broken.json: invalid host JSON:\n  hostId: required field is missing"


# ---------------------------------------------------------------- schemaVersion


@pytest.mark.parametrize("version, shown", [(2, "2"), (0, "0"), ("1", '"1"'), (None, "null")])
def test_unknown_schema_version_fails_naming_it(nix, example, write_host, version, shown):
    example["schemaVersion"] = version
    assert read_error(nix, write_host(example)) == (
        f"nix/hosts/example.json: unknown schemaVersion {shown}; "
        "this flake reads schemaVersion 1 (see docs/host-json.md)"
    )


def test_missing_schema_version(nix, example, write_host):
    del example["schemaVersion"]
    assert read_error(nix, write_host(example)) == (
        "nix/hosts/example.json: schemaVersion: required field is missing; "
        "this flake reads schemaVersion 1 (see docs/host-json.md)"
    )


def test_unknown_version_is_reported_before_anything_else(nix, write_host):
    # A future file whose fields all changed: the message is about the version only.
    assert read_error(nix, write_host({"schemaVersion": 2, "name": "x"})) == (
        "nix/hosts/example.json: unknown schemaVersion 2; this flake reads schemaVersion 1 (see docs/host-json.md)"
    )


def test_not_an_object(nix, tmp_path):
    p = tmp_path / "example.json"
    p.write_text("[1, 2]")
    assert read_error(nix, p) == "nix/hosts/example.json: the host JSON must be an object, got array"


# ---------------------------------------------------------------- schema errors


def required_paths(schema, node=None, path=""):
    """Every required field of the schema as a dotted path (arrays of objects: item 0)."""
    node = schema if node is None else node
    if "$ref" in node:
        node = {**node, **schema["$defs"][node["$ref"].split("/")[-1]]}
    out = []
    if "properties" in node:
        for key in node.get("required", []):
            p = f"{path}.{key}" if path else key
            out.append(p)
            out += required_paths(schema, node["properties"][key], p)
    if node.get("type") == "array" and "items" in node:
        out += required_paths(schema, node["items"], f"{path}[0]")
    return out


def delete_path(doc, path):
    parts = path.replace("[0]", ".0").split(".")
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if isinstance(node, dict):
        del node[last]


def test_required_paths_cover_the_schema(schema):
    paths = required_paths(schema)
    assert len(paths) >= 45
    assert "storage.luks.device" in paths and "services.nginx.vhosts[0].proxyPass" in paths


@pytest.mark.parametrize(
    "path",
    [p for p in required_paths(SCHEMA) if p != "schemaVersion"],
)
def test_every_missing_required_field_is_named(nix, example, write_host, path):
    delete_path(example, path)
    assert read_error(nix, write_host(example)) == (
        f"nix/hosts/example.json: invalid host JSON:\n  {path}: required field is missing"
    )


SCHEMA_ERRORS = [
    ("memoryMiB", "4G", 'memoryMiB: expected integer, got string'),
    ("memoryMiB", 511, "memoryMiB: must be >= 512, got 511"),
    ("memoryMiB", 4096.5, "memoryMiB: expected integer, got number"),
    ("hostId", "8425E349", 'hostId: "8425E349" does not match ^[0-9a-f]{8}$'),
    ("hostId", "8425e3490", 'hostId: "8425e3490" does not match ^[0-9a-f]{8}$'),
    ("hostname", "web_1", 'hostname: "web_1" does not match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    ("hostname", "web.example.org", 'hostname: "web.example.org" does not match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    ("architecture", "arm64", 'architecture: must be one of "x86_64", "aarch64", got "arm64"'),
    ("stateVersion", "25.04", 'stateVersion: "25.04" does not match ^[0-9]{2}\\.(05|11)$'),
    ("storage.disks", [], "storage.disks: must have at least 1 item(s), got 0"),
    ("storage.disks", [DISK, DISK + "x"], "storage.disks: must have at most 1 item(s), got 2"),
    ("storage.disks", ["/dev/sda"], 'storage.disks[0]: "/dev/sda" does not match ^/dev/disk/by-id/[A-Za-z0-9._:-]+$'),
    ("storage.espDevice", "/dev/sda2", 'storage.espDevice: "/dev/sda2" does not match ^/dev/disk/by-id/[A-Za-z0-9._:-]+$'),
    ("storage.autoSnapshot", "yes", "storage.autoSnapshot: expected boolean, got string"),
    ("storage.pool.datasets", [], "storage.pool.datasets: must have at least 1 item(s), got 0"),
    ("storage.rollback.snapshot", "local/root", 'storage.rollback.snapshot: "local/root" does not match ^[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:-]+)*@[A-Za-z0-9_.:-]+$'),
    ("network.ipv4", "203.0.113.10", "network.ipv4: expected object or null, got string"),
    ("network.ipv4.address", "203.0.113", 'network.ipv4.address: "203.0.113" does not match ^([0-9]{1,3}\\.){3}[0-9]{1,3}$'),
    ("network.ipv6.prefixLength", 129, "network.ipv6.prefixLength: must be <= 128, got 129"),
    ("admins", [], "admins: must have at least 1 item(s), got 0"),
    ("initrdUnlock.port", 0, "initrdUnlock.port: must be >= 1, got 0"),
    ("initrdUnlock.port", "2222", "initrdUnlock.port: expected integer, got string"),
    ("firewall.extraTcpPorts", [80, 80], "firewall.extraTcpPorts: items must be unique, 80 appears more than once"),
    ("firewall.extraUdpPorts", [70000], "firewall.extraUdpPorts[0]: must be <= 65535, got 70000"),
    ("services.nginx.enable", 1, "services.nginx.enable: expected boolean, got integer"),
    ("services.nodeExporter.allowedCidrs", ["10.0.0.0"], 'services.nodeExporter.allowedCidrs[0]: "10.0.0.0" does not match ^[0-9a-f.:]+/[0-9]{1,3}$'),
]


def set_path(doc, path, value):
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


@pytest.mark.parametrize("path, value, message", SCHEMA_ERRORS, ids=[f"{p}={v!r}" for p, v, _ in SCHEMA_ERRORS])
def test_schema_errors_name_the_field(nix, example, write_host, path, value, message):
    set_path(example, path, value)
    assert read_error(nix, write_host(example)) == f"nix/hosts/example.json: invalid host JSON:\n  {message}"


def test_ssh_key_pattern(nix, example, write_host):
    example["admins"][0]["sshKeys"] = ["ssh-dss AAAAB3NzaC1kc3MAAACBAP alice"]
    msg = read_error(nix, write_host(example))
    assert msg.startswith('nix/hosts/example.json: invalid host JSON:\n  admins[0].sshKeys[0]: "ssh-dss AAAAB3NzaC1kc3MAAACBAP alice" does not match ^(ssh-ed25519|')


def test_unknown_fields_are_refused(nix, example, write_host):
    example["domain"] = "example.org"
    example["storage"]["pool"]["ashift"] = 12
    example["services"]["redis"] = {"enable": True}
    assert read_error(nix, write_host(example)) == (
        "nix/hosts/example.json: invalid host JSON:\n"
        "  domain: unknown field\n"
        "  services.redis: unknown field\n"
        "  storage.pool.ashift: unknown field"
    )


def test_all_schema_errors_are_reported_at_once(nix, example, write_host):
    del example["storage"]["luks"]["device"]
    example["memoryMiB"] = "4G"
    example["admins"][1]["sshKeys"] = [BOB1, BOB1]
    example["services"]["postgresql"]["dataset"] = 5
    assert read_error(nix, write_host(example)) == (
        "nix/hosts/example.json: invalid host JSON:\n"
        f'  admins[1].sshKeys: items must be unique, "{BOB1}" appears more than once\n'
        "  memoryMiB: expected integer, got string\n"
        "  services.postgresql.dataset: expected string or null, got integer\n"
        "  storage.luks.device: required field is missing"
    )


# ---------------------------------------------------------------- cross-field checks


def _disable_rollback(d):
    d["storage"]["rollback"] = {"enable": False, "snapshot": None}


CHECK_ERRORS = [
    (
        "file name",
        lambda d: d.update(hostname="web-1"),
        'hostname: "web-1" differs from the file name "example.json" (name the file after the host)',
    ),
    (
        "esp on another disk",
        lambda d: d["storage"].update(espDevice="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_99999999-part2"),
        'storage.espDevice: "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_99999999-part2" is not a partition (<disk>-partN) of a disk in storage.disks',
    ),
    (
        "luks on the whole disk",
        lambda d: d["storage"]["luks"].update(device=DISK),
        f'storage.luks.device: "{DISK}" is not a partition (<disk>-partN) of a disk in storage.disks',
    ),
    (
        "luks on the esp",
        lambda d: d["storage"]["luks"].update(device=DISK + "-part2"),
        "storage.luks.device: must not be the ESP (storage.espDevice)",
    ),
    (
        "duplicate dataset",
        lambda d: d["storage"]["pool"]["datasets"].append({"name": "safe/home", "mountpoint": "/srv"}),
        'storage.pool.datasets: dataset "safe/home" is listed more than once',
    ),
    (
        "duplicate mountpoint",
        lambda d: d["storage"]["pool"]["datasets"].append({"name": "safe/home2", "mountpoint": "/home"}),
        'storage.pool.datasets: mountpoint "/home" is used by more than one dataset',
    ),
    (
        "no root dataset",
        lambda d: (_disable_rollback(d), d["storage"]["pool"]["datasets"].pop(0)),
        'storage.pool.datasets: no dataset is mounted at / (add e.g. {"name": "local/root", "mountpoint": "/"})',
    ),
    (
        "rollback without snapshot",
        lambda d: d["storage"]["rollback"].update(snapshot=None),
        'storage.rollback.snapshot: required when storage.rollback.enable is true (e.g. "local/root@blank")',
    ),
    (
        "rollback of another dataset",
        lambda d: d["storage"]["rollback"].update(snapshot="safe/home@blank"),
        'storage.rollback.snapshot: "safe/home@blank" is not a snapshot of the root dataset "local/root"',
    ),
    (
        "rollback without /persist",
        lambda d: d["storage"]["pool"]["datasets"].pop(3),
        "storage.rollback.enable: rolling back / needs a dataset mounted at /persist for the state that must survive",
    ),
    (
        "no address",
        lambda d: d["network"].update(ipv4=None, ipv6=None),
        "network: ipv4 and ipv6 are both null; the server needs at least one address",
    ),
    (
        "duplicate admin",
        lambda d: d["admins"].append({"name": "alice", "sshKeys": [ALICE]}),
        'admins: user "alice" is listed more than once',
    ),
    (
        "root admin",
        lambda d: d["admins"].append({"name": "root", "sshKeys": [ALICE]}),
        'admins: "root" cannot be an admin; list personal users (they get wheel and sudo)',
    ),
    (
        "unlock without keys",
        lambda d: d["initrdUnlock"].update(authorizedKeys=[]),
        "initrdUnlock.authorizedKeys: empty while initrdUnlock.enable is true; nobody could unlock the disk",
    ),
    (
        "unlock without host key",
        lambda d: d["initrdUnlock"].update(hostKeyPath=None),
        "initrdUnlock.hostKeyPath: required when initrdUnlock.enable is true (the initrd needs its own SSH host key)",
    ),
    (
        "host key in the store",
        lambda d: d["initrdUnlock"].update(hostKeyPath="/nix/store/abc-initrd-key"),
        'initrdUnlock.hostKeyPath: "/nix/store/abc-initrd-key" is in the Nix store, which is world-readable; keep the key outside it',
    ),
    (
        "system host key",
        lambda d: d["initrdUnlock"].update(hostKeyPath="/persist/etc/ssh/ssh_host_ed25519_key"),
        'initrdUnlock.hostKeyPath: "/persist/etc/ssh/ssh_host_ed25519_key" looks like a system SSH host key; the initrd needs its own key (it sits unencrypted on /boot)',
    ),
    (
        "system host key in /etc",
        lambda d: d["initrdUnlock"].update(hostKeyPath="/etc/ssh/ssh_host_rsa_key"),
        'initrdUnlock.hostKeyPath: "/etc/ssh/ssh_host_rsa_key" looks like a system SSH host key; the initrd needs its own key (it sits unencrypted on /boot)',
    ),
    (
        "unlock on port 22",
        lambda d: d["initrdUnlock"].update(port=22),
        "initrdUnlock.port: 22 is the system sshd's port; use another one (2222) so that clients keep two host keys apart",
    ),
    (
        "nginx without email",
        lambda d: d["services"]["nginx"].update(acmeEmail=None),
        "services.nginx.acmeEmail: required when services.nginx.enable is true (Let's Encrypt account)",
    ),
    (
        "nginx without vhosts",
        lambda d: d["services"]["nginx"].update(vhosts=[]),
        "services.nginx.vhosts: empty while services.nginx.enable is true",
    ),
    (
        "duplicate vhost",
        lambda d: d["services"]["nginx"]["vhosts"].append(dict(d["services"]["nginx"]["vhosts"][0])),
        'services.nginx.vhosts: domain "www.example.org" is listed more than once',
    ),
    (
        "vhost with root and proxy",
        lambda d: d["services"]["nginx"]["vhosts"][1].update(root="/srv/app"),
        "services.nginx.vhosts[1]: set exactly one of root and proxyPass",
    ),
    (
        "vhost with neither",
        lambda d: d["services"]["nginx"]["vhosts"][0].update(root=None),
        "services.nginx.vhosts[0]: set exactly one of root and proxyPass",
    ),
    (
        "postgresql without dataset",
        lambda d: d["services"]["postgresql"].update(dataset=None),
        "services.postgresql.dataset: required when services.postgresql.enable is true (its data lives on its own dataset)",
    ),
    (
        "postgresql dataset not in the pool",
        lambda d: d["services"]["postgresql"].update(dataset="safe/pg"),
        'services.postgresql.dataset: "safe/pg" is not listed in storage.pool.datasets',
    ),
    (
        "postgresql dataset mounted elsewhere",
        lambda d: d["services"]["postgresql"].update(dataset="safe/home"),
        'services.postgresql.dataset: "safe/home" is mounted at "/home", expected "/var/lib/postgresql"',
    ),
]


@pytest.mark.parametrize("case, mutate, message", CHECK_ERRORS, ids=[c[0] for c in CHECK_ERRORS])
def test_cross_field_checks(nix, example, write_host, case, mutate, message):
    mutate(example)
    assert read_error(nix, write_host(example)) == f"nix/hosts/example.json: invalid host JSON:\n  {message}"


def test_cross_field_checks_are_all_reported(nix, example, write_host):
    example["services"]["nginx"]["acmeEmail"] = None
    example["initrdUnlock"]["port"] = 22
    example["network"]["ipv4"] = None
    example["network"]["ipv6"] = None
    assert read_error(nix, write_host(example)) == (
        "nix/hosts/example.json: invalid host JSON:\n"
        "  network: ipv4 and ipv6 are both null; the server needs at least one address\n"
        "  initrdUnlock.port: 22 is the system sshd's port; use another one (2222) so that clients keep two host keys apart\n"
        "  services.nginx.acmeEmail: required when services.nginx.enable is true (Let's Encrypt account)"
    )


def test_disabled_features_need_no_settings(nix, example, write_host):
    # Off means off: a disabled service or unlock may leave its settings empty.
    example["services"]["nginx"] = {"enable": False, "acmeEmail": None, "vhosts": []}
    example["services"]["postgresql"] = {"enable": False, "dataset": None}
    example["initrdUnlock"] = {"enable": False, "port": 22, "authorizedKeys": [], "hostKeyPath": None}
    example["storage"]["rollback"] = {"enable": False, "snapshot": None}
    assert nix.eval(read_host_expr(write_host(example)))["hostname"] == "example"


def test_validate_reports_schema_errors_only(nix):
    got = nix.eval(f'{lib_expr()}.validate {{ schemaVersion = 1; hostname = "Bad"; }}')
    missing = ["hostId", "architecture", "memoryMiB", "stateVersion", "storage", "network",
               "admins", "initrdUnlock", "firewall", "services"]
    assert got == [f"{m}: required field is missing" for m in missing] + [
        'hostname: "Bad" does not match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
    ]
    assert nix.eval(f"{lib_expr()}.validate (builtins.fromJSON (builtins.readFile {nix_path(EXAMPLE_FILE)}))") == []


def test_label_is_used_in_messages(nix, example, write_host):
    del example["hostId"]
    p = write_host(example)
    with pytest.raises(NixError) as exc:
        nix.eval(f'{lib_expr()}.readHost {nix_str("hosts/example.json")} {nix_path(p)}')
    assert exc.value.message == "hosts/example.json: invalid host JSON:\n  hostId: required field is missing"
