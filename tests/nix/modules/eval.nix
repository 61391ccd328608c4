# Evaluates the project's NixOS modules (nix/modules/*) with the real nixpkgs lib's module
# system (lib.evalModules), offline: the lib is nixpkgs' lib/ of the 25.05 branch-off, and
# there are no NixOS modules and no packages. What this can show, and what it cannot:
#
# - Our own options (vps.*) are declared by our modules and evaluated exactly as NixOS
#   evaluates them: types, defaults, readOnly, the host JSON's settings.
# - NixOS's options are NOT declared here, and nothing stands in for their declarations.
#   Their *definitions* (what our modules set: boot.*, networking.*, services.*, …) are
#   collected by a freeform type at the root (`definitions` below) and can be read back.
#   At every leaf the real lib's mergeDefinitions resolves them, so mkIf, mkMerge,
#   mkDefault/mkForce (priorities) and mkBefore/mkAfter (order) mean what they mean in
#   NixOS. What a leaf *is* comes from the definitions, not from NixOS's declarations:
#   a path whose definitions are attribute sets is a tree; lists concatenate (as
#   types.listOf does); any other value must be equal in every definition (as
#   types.bool/str/int do, lib.mergeEqualOption). Where NixOS's type would merge
#   differently (types.lines, a submodule's defaults, a package as one value), this
#   evaluation does not pretend: a conflict is an error here, and no test reads NixOS
#   defaults that our modules do not define. A path all of whose definitions are under
#   a false mkIf (or overridden) is not defined, and `nixos` below drops it, as NixOS's
#   attrsOf options drop such entries.
# - Two values that our storage assertion reads from NixOS (boot.zfs.package and
#   pkgs.linuxPackages) are given as plain data by the caller (`nixosValues`), and
#   `modulesPath` points at an empty stand-in profile (there are no NixOS modules here),
#   so nothing that NixOS's qemu-guest profile defines can be asserted.
#
# Whether NixOS's declarations accept these definitions (types, assertions of NixOS's own
# modules, the system's build) is what `nix flake check` with the real nixpkgs input
# proves; docs/implementation.md lists it.
{
  # The directory that holds nixpkgs' lib/ (…/nixpkgs-lib-25.05).
  nixpkgsLib,
  # A host JSON file; null evaluates the modules without a host.
  hostFile ? null,
  # Further modules (definitions a test adds, e.g. what grub.nix defines itself).
  extraModules ? [ ],
  # The NixOS values that our modules read and do not define (see above).
  nixosValues ? { },
}:
let
  lib = import (nixpkgsLib + "/lib");
  inherit (lib) types;
  vpsLib = import ../../../nix/lib;

  # Marks a path whose every definition was discharged (mkIf false, or overridden).
  undefined = {
    _type = "vps-test-undefined";
  };

  # lib.modules.pushDownProperties, which the lib deprecates for external use: mkMerge,
  # mkIf and mkOverride of an attribute set become the same wrappers on each attribute.
  pushDown =
    v:
    let
      t = v._type or null;
    in
    if t == "merge" then
      lib.concatMap pushDown v.contents
    else if t == "if" then
      map (lib.mapAttrs (_: lib.mkIf v.condition)) (pushDown v.content)
    else if t == "override" then
      map (lib.mapAttrs (_: lib.mkOverride v.priority)) (pushDown v.content)
    else
      [ v ];

  # Whether a definition has an mkIf among its wrappers (without evaluating anything
  # below the mkIf).
  conditional =
    v:
    let
      t = v._type or null;
    in
    if t == "if" then
      true
    else if t == "merge" then
      lib.any conditional v.contents
    else if t == "override" || t == "order" then
      conditional v.content
    else
      false;

  # The values inside a definition's wrappers, conditions evaluated (dischargeProperties,
  # with priorities and order left to mergeDefinitions: only the kind is wanted here).
  contents =
    v:
    let
      t = v._type or null;
    in
    if t == "merge" then
      lib.concatMap contents v.contents
    else if t == "if" then
      (if v.condition then contents v.content else [ ])
    else if t == "override" || t == "order" then
      contents v.content
    else
      [ v ];

  kindOf =
    values:
    if values == [ ] then
      "undefined"
    else if lib.all (c: builtins.isAttrs c && !(c ? _type)) values then
      "tree"
    else if lib.all builtins.isList values then
      "list"
    else
      "value";

  equalValues = lib.mkOptionType {
    name = "equal-values";
    description = "a value that every definition must agree on";
    merge = lib.mergeEqualOption;
  };

  # One path of the definitions. Whether it is a tree or a leaf is read from the
  # definitions without an mkIf where there are any (evaluating a condition here could
  # need this very path: `mkIf config.boot.initrd.systemd.enable { boot… }`); only where
  # every definition is conditional are the conditions evaluated, as NixOS evaluates them
  # at an attrsOf option (so nothing under a false mkIf is forced, and a path whose
  # every definition is off is not defined).
  mergeNode =
    loc: defs:
    let
      certain = lib.filter (d: !conditional d.value) defs;
      kind = kindOf (lib.concatMap (d: contents d.value) (if certain != [ ] then certain else defs));
    in
    if kind == "undefined" then
      undefined
    else if kind == "tree" then
      let
        # Push mkIf / mkOverride down into the attributes, as the module system does
        # for option trees: the conditions stay unevaluated until needed below.
        pushed = lib.concatMap (
          d:
          map (v: {
            inherit (d) file;
            value = v;
          }) (pushDown d.value)
        ) defs;
        byName = lib.zipAttrsWith (_: vs: vs) (
          map (d: lib.mapAttrs (_: v: { inherit (d) file; value = v; }) d.value) pushed
        );
      in
      lib.mapAttrs (name: mergeNode (loc ++ [ name ])) byName
    else
      let
        merged = lib.mergeDefinitions loc (if kind == "list" then types.listOf types.raw else equalValues) defs;
      in
      if merged.isDefined then merged.mergedValue else undefined;

  definitions = lib.mkOptionType {
    name = "nixos-definitions";
    description = "definitions of options that NixOS declares (not declared in this evaluation)";
    merge = mergeNode;
  };

  # Drops the paths that nothing defines, as attrsOf does for NixOS's attribute sets.
  defined =
    v:
    if builtins.isAttrs v && (v._type or null) == "vps-test-undefined" then
      null
    else if builtins.isAttrs v && !(v ? _type) then
      let
        kept = lib.filterAttrs (_: x: x != null) (lib.mapAttrs (_: defined) v);
      in
      if kept == { } && v != { } then null else kept
    else
      v;

  stubProfiles = ./stand-in-modules;

  host = if hostFile == null then null else vpsLib.readHost "nix/hosts/${baseNameOf (toString hostFile)}" hostFile;

  eval = lib.evalModules {
    specialArgs.modulesPath = stubProfiles;
    modules = [
      { _module.freeformType = definitions; }
      { _module.args.pkgs = nixosValues.pkgs or { }; }
      (removeAttrs nixosValues [ "pkgs" ])
      # The layers in the order of the flake's nixosModules.default.
      ../../../nix/modules/hardware
      ../../../nix/modules/storage
      ../../../nix/modules/base
      ../../../nix/modules/security
      ../../../nix/modules/services
    ]
    ++ lib.optional (host != null) (vpsLib.hostModule host)
    ++ extraModules;
  };
in
{
  inherit lib eval defined;
  inherit (eval) config options;
  # What our modules define for NixOS's options, undefined paths dropped (JSON-able).
  nixos = defined (removeAttrs eval.config [
    "vps"
    "_module"
  ]);
  # The messages of the assertions that fail.
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) eval.config.assertions);
}
