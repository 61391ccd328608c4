# Cross-field checks of a host JSON that a JSON Schema cannot express. Builtins only.
# Runs only after the schema validation passed, so every field exists with its type.
# checks fileName host: a list of "field.path: what is wrong (what to do)" strings.
# The rules that the NixOS modules assert as well come from ./rules.nix.
let
  inherit (builtins)
    concatLists
    elemAt
    filter
    genList
    head
    length
    map
    match
    stringLength
    substring
    toJSON
    ;
  rules = import ./rules.nix;
  inherit (rules) duplicates hasPrefix;

  # `when cond msg`: [ msg ] if cond holds.
  when = cond: msg: if cond then [ msg ] else [ ];

  # dev is "<disk>-partN" for one of the disks.
  isPartitionOf =
    disks: dev:
    builtins.any (
      d: hasPrefix "${d}-part" dev && match "[0-9]+" (substring (stringLength d + 5) 64 dev) != null
    ) disks;
in
fileName: host:
let
  st = host.storage;
  datasets = st.pool.datasets;
  names = map (d: d.name) datasets;
  mounts = map (d: d.mountpoint) datasets;
  datasetAt = mp: filter (d: d.mountpoint == mp) datasets;
  rootDs = datasetAt "/";
  unlock = host.initrdUnlock;
  nginx = host.services.nginx;
  pg = host.services.postgresql;
  pgDs = filter (d: d.name == pg.dataset) datasets;
  vhostDomains = map (v: v.domain) nginx.vhosts;
  rollback = rules.rollback {
    inherit (st.rollback) enable snapshot;
    rootDataset = if rootDs == [ ] then null else (head rootDs).name;
    persist = datasetAt "/persist" != [ ];
  };
  unlockRules = rules.initrdUnlock { inherit (unlock) enable authorizedKeys hostKeyPath; };
  nginxRules = rules.nginx { inherit (nginx) enable acmeEmail vhosts; };
in
concatLists [
  (when (fileName != null && fileName != host.hostname)
    "hostname: ${toJSON host.hostname} differs from the file name ${toJSON "${fileName}.json"} (name the file after the host)"
  )
  (map (d: "storage.disks: ${toJSON d} is listed more than once") (duplicates st.disks))
  (when (!isPartitionOf st.disks st.espDevice)
    "storage.espDevice: ${toJSON st.espDevice} is not a partition (<disk>-partN) of a disk in storage.disks"
  )
  (when (!isPartitionOf st.disks st.luks.device)
    "storage.luks.device: ${toJSON st.luks.device} is not a partition (<disk>-partN) of a disk in storage.disks"
  )
  (when (st.luks.device == st.espDevice) "storage.luks.device: must not be the ESP (storage.espDevice)")
  (map (n: "storage.pool.datasets: dataset ${toJSON n} is listed more than once") (duplicates names))
  (map (m: "storage.pool.datasets: mountpoint ${toJSON m} is used by more than one dataset") (duplicates mounts))
  (when (rules.noRootDataset mounts) "storage.pool.datasets: no dataset is mounted at / (add e.g. {\"name\": \"local/root\", \"mountpoint\": \"/\"})")
  (when rollback.noSnapshot
    "storage.rollback.snapshot: required when storage.rollback.enable is true (e.g. \"local/root@blank\")"
  )
  (when rollback.notOfRootDataset
    "storage.rollback.snapshot: ${toJSON st.rollback.snapshot} is not a snapshot of the root dataset ${toJSON (head rootDs).name}"
  )
  (when rollback.noPersist
    "storage.rollback.enable: rolling back / needs a dataset mounted at /persist for the state that must survive"
  )
  (when (host.network.ipv4 == null && host.network.ipv6 == null)
    "network: ipv4 and ipv6 are both null; the server needs at least one address"
  )
  (map (n: "admins: user ${toJSON n} is listed more than once") (duplicates (map (a: a.name) host.admins)))
  (when (rules.rootIsAdmin (map (a: a.name) host.admins))
    "admins: \"root\" cannot be an admin; list personal users (they get wheel and sudo)"
  )
  (when unlockRules.noAuthorizedKeys
    "initrdUnlock.authorizedKeys: empty while initrdUnlock.enable is true; nobody could unlock the disk"
  )
  (when unlockRules.noHostKey
    "initrdUnlock.hostKeyPath: required when initrdUnlock.enable is true (the initrd needs its own SSH host key)"
  )
  (when unlockRules.hostKeyInStore
    "initrdUnlock.hostKeyPath: ${toJSON unlock.hostKeyPath} is in the Nix store, which is world-readable; keep the key outside it"
  )
  (when (unlock.hostKeyPath != null && match "(.*/)?etc/ssh/ssh_host_[^/]*" unlock.hostKeyPath != null)
    "initrdUnlock.hostKeyPath: ${toJSON unlock.hostKeyPath} looks like a system SSH host key; the initrd needs its own key (it sits unencrypted on /boot)"
  )
  (when (unlock.enable && unlock.port == 22)
    "initrdUnlock.port: 22 is the system sshd's port; use another one (2222) so that clients keep two host keys apart"
  )
  (when nginxRules.noAcmeEmail
    "services.nginx.acmeEmail: required when services.nginx.enable is true (Let's Encrypt account)"
  )
  (when nginxRules.noVhosts "services.nginx.vhosts: empty while services.nginx.enable is true")
  (map (d: "services.nginx.vhosts: domain ${toJSON d} is listed more than once") (duplicates vhostDomains))
  (concatLists (
    genList (
      i:
      let
        v = elemAt nginx.vhosts i;
      in
      when (rules.badVhost v)
        "services.nginx.vhosts[${toString i}]: set exactly one of root and proxyPass"
    ) (length nginx.vhosts)
  ))
  (when (rules.postgresqlWithoutDataset { inherit (pg) enable dataset; })
    "services.postgresql.dataset: required when services.postgresql.enable is true (its data lives on its own dataset)"
  )
  (when (pg.dataset != null && pgDs == [ ])
    "services.postgresql.dataset: ${toJSON pg.dataset} is not listed in storage.pool.datasets"
  )
  (when (pgDs != [ ] && (head pgDs).mountpoint != "/var/lib/postgresql")
    "services.postgresql.dataset: ${toJSON pg.dataset} is mounted at ${toJSON (head pgDs).mountpoint}, expected \"/var/lib/postgresql\""
  )
]
