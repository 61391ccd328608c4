# The flake's `lib`: the helpers that turn a host JSON into module settings.
# Builtins only, so that everything here evaluates offline with plain
# `nix-instantiate --eval --strict --json` (no nixpkgs). See docs/host-json.md.
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    fromJSON
    listToAttrs
    map
    match
    readDir
    readFile
    toJSON
    ;

  schemaLib = import ./schema.nix;
  settingsLib = import ./settings.nix;
  checks = import ./checks.nix;

  # The one schema, shared with the Ansible roles.
  jsonSchema = fromJSON (readFile ../schema/host.schema.json);
  schemaVersion = jsonSchema.properties.schemaVersion.const;

  versionHint = "this flake reads schemaVersion ${toJSON schemaVersion} (see docs/host-json.md)";

  # validateHost { label; fileName; } raw -> raw, or a throw naming every bad field.
  # label prefixes the messages (e.g. "nix/hosts/web-1.json"); fileName (the file's name
  # without .json, or null) must equal the hostname.
  validateHost =
    {
      label,
      fileName ? null,
    }:
    raw:
    let
      schemaErrors = schemaLib.validate jsonSchema raw;
      allErrors = if schemaErrors != [ ] then schemaErrors else checks fileName raw;
    in
    if !(builtins.isAttrs raw) then
      throw "${label}: the host JSON must be an object, got ${schemaLib.jsonType raw}"
    else if !(raw ? schemaVersion) then
      throw "${label}: schemaVersion: required field is missing; ${versionHint}"
    else if raw.schemaVersion != schemaVersion then
      throw "${label}: unknown schemaVersion ${toJSON raw.schemaVersion}; ${versionHint}"
    else if allErrors != [ ] then
      throw "${label}: invalid host JSON:\n  ${concatStringsSep "\n  " allErrors}"
    else
      raw;

  # readHost label path -> the validated host.
  readHost =
    label: path:
    let
      name = baseNameOf (toString path);
      m = match "(.*)\\.json" name;
    in
    validateHost {
      inherit label;
      fileName = if m == null then null else builtins.head m;
    } (fromJSON (readFile path));

  # hostsFromDir { dir; label ? "nix/hosts"; } -> { <host> = validated host; } for every
  # regular file <host>.json in dir (found with builtins.readDir).
  hostsFromDir =
    {
      dir,
      label ? "nix/hosts",
    }:
    let
      entries = readDir dir;
      files = filter (n: entries.${n} == "regular" && match ".+\\.json" n != null) (attrNames entries);
    in
    listToAttrs (
      map (f: {
        name = builtins.head (match "(.+)\\.json" f);
        value = readHost "${label}/${f}" (dir + "/${f}");
      }) files
    );

  # The datasets that enabled services need, with the ZFS properties they want; the
  # storage role creates them (the NixOS side only mounts them).
  requiredDatasets =
    host:
    let
      pg = host.services.postgresql;
    in
    if pg.enable && pg.dataset != null then
      {
        ${pg.dataset} = {
          mountpoint = "/var/lib/postgresql";
          properties = {
            recordsize = "16k";
          };
        };
      }
    else
      { };
in
{
  inherit
    jsonSchema
    schemaVersion
    validateHost
    readHost
    hostsFromDir
    requiredDatasets
    checks
    ;
  inherit (settingsLib) settings arcMaxBytes;

  # validate: the schema errors of a value (no cross-field checks), [] when valid.
  validate = schemaLib.validate jsonSchema;

  # hostModule host: a NixOS module (a plain attrset) that sets `vps` from the host.
  hostModule = host: {
    _file = "nix/lib (host ${host.hostname})";
    vps = settingsLib.settings host;
  };
}
