# The rules that a host JSON (nix/lib/checks.nix) and the options of the NixOS modules
# (their assertions, nix/modules/*) share, each written once: a predicate that is true
# when the configuration is wrong. Each side words its message with its own field names
# (host JSON fields there, vps.* options here). Builtins only: checks.nix evaluates
# without nixpkgs.
let
  inherit (builtins)
    concatLists
    elem
    elemAt
    genList
    head
    length
    match
    stringLength
    substring
    ;
in
rec {
  # Items of a list that occur more than once (first occurrence order).
  duplicates =
    xs:
    concatLists (
      genList (
        i:
        let
          x = elemAt xs i;
        in
        if elem x (genList (elemAt xs) i) then [ x ] else [ ]
      ) (length xs)
    );

  hasPrefix = p: s: substring 0 (stringLength p) s == p;

  # The dataset of a snapshot name: "rpool/local/root@blank" -> "rpool/local/root".
  snapshotDataset =
    snapshot:
    let
      m = match "([^@]*)@.*" snapshot;
    in
    if m == null then snapshot else head m;

  # No dataset is mounted at / (mountpoints: those of every dataset).
  noRootDataset = mountpoints: !(elem "/" mountpoints);

  # Rollback of / to a blank snapshot. rootDataset: the full name of the dataset mounted
  # at /, or null; persist: whether a dataset is mounted at /persist.
  rollback =
    {
      enable,
      snapshot,
      rootDataset,
      persist,
    }:
    {
      noSnapshot = enable && snapshot == null;
      notOfRootDataset = enable && snapshot != null && rootDataset != null && snapshotDataset snapshot != rootDataset;
      noPersist = enable && !persist;
    };

  # Remote unlock over SSH in the initrd.
  initrdUnlock =
    {
      enable,
      authorizedKeys,
      hostKeyPath,
    }:
    {
      noAuthorizedKeys = enable && authorizedKeys == [ ];
      noHostKey = enable && hostKeyPath == null;
      hostKeyInStore = hostKeyPath != null && hasPrefix "/nix/store" hostKeyPath;
    };

  # nginx. vhosts: a list of { root, proxyPass, ... }.
  nginx =
    {
      enable,
      acmeEmail,
      vhosts,
    }:
    {
      noAcmeEmail = enable && acmeEmail == null;
      noVhosts = enable && vhosts == [ ];
    };

  # A vhost must serve either files (root) or a backend (proxyPass), not both or neither.
  badVhost = v: (v.root == null) == (v.proxyPass == null);

  # PostgreSQL keeps its data on its own dataset.
  postgresqlWithoutDataset = { enable, dataset }: enable && dataset == null;

  # root is not an admin (names: the admins' user names).
  rootIsAdmin = names: elem "root" names;
}
