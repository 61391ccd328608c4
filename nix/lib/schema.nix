# A validator for the subset of JSON Schema (2020-12) that nix/schema/host.schema.json
# uses, written with builtins only so that it runs without nixpkgs.
#
# Supported keywords: type (string or list), const, enum, pattern (must be anchored with
# ^…$, so that builtins.match's whole-string semantics equal JSON Schema's search
# semantics), minimum, maximum, minLength, maxLength, minItems, maxItems, uniqueItems,
# properties, required, additionalProperties (false only), items, $ref (to #/$defs/…).
# Annotations ($schema, $id, $defs, title, description, examples, default) are ignored.
# Any other keyword throws, so that a schema change can never be silently ignored here.
let
  inherit (builtins)
    all
    attrNames
    concatLists
    concatStringsSep
    elem
    elemAt
    filter
    genList
    head
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isNull
    isString
    length
    match
    removeAttrs
    stringLength
    substring
    toJSON
    ;
  inherit (import ./rules.nix) duplicates;

  supported = [
    "type"
    "const"
    "enum"
    "pattern"
    "minimum"
    "maximum"
    "minLength"
    "maxLength"
    "minItems"
    "maxItems"
    "uniqueItems"
    "properties"
    "required"
    "additionalProperties"
    "items"
    "$ref"
  ];
  annotations = [
    "$schema"
    "$id"
    "$defs"
    "title"
    "description"
    "examples"
    "default"
  ];

  # The JSON type name of a Nix value that came from builtins.fromJSON.
  jsonType =
    v:
    if isNull v then
      "null"
    else if isBool v then
      "boolean"
    else if isInt v then
      "integer"
    else if isFloat v then
      "number"
    else if isString v then
      "string"
    else if isList v then
      "array"
    else if isAttrs v then
      "object"
    else
      throw "schema.nix: value of unexpected Nix type";

  hasType = want: v: want == jsonType v || (want == "number" && isInt v);

  child = path: key: if path == "" then key else "${path}.${key}";
  index = path: i: "${path}[${toString i}]";
  where = path: if path == "" then "(top level)" else path;

  checkKeywords =
    path: s:
    let
      unknown = filter (k: !(elem k supported) && !(elem k annotations)) (attrNames s);
    in
    if unknown != [ ] then
      throw "schema.nix: unsupported JSON Schema keyword(s) ${toJSON unknown} at ${where path}"
    else if s ? pattern && (substring 0 1 s.pattern != "^" || substring (stringLength s.pattern - 1) 1 s.pattern != "$") then
      throw "schema.nix: pattern at ${where path} must be anchored with ^ and $"
    else if s ? additionalProperties && s.additionalProperties != false then
      throw "schema.nix: only additionalProperties = false is supported (at ${where path})"
    else
      true;

  # errors root schema path value: a list of "path: message" strings, empty when valid.
  errors =
    root: s: path: v:
    assert checkKeywords path s;
    if s ? "$ref" then
      let
        m = match "#/\\$defs/(.+)" s."$ref";
      in
      if m == null then
        throw "schema.nix: unsupported $ref ${s."$ref"} at ${where path}"
      else
        errors root (removeAttrs s [ "$ref" ]) path v ++ errors root root."$defs".${head m} path v
    else
      let
        types = if !(s ? type) then null else if isList s.type then s.type else [ s.type ];
        typeOk = types == null || builtins.any (t: hasType t v) types;
        t = jsonType v;
      in
      if !typeOk then
        [ "${where path}: expected ${concatStringsSep " or " types}, got ${t}" ]
      else
        concatLists [
          (if s ? const && v != s.const then [ "${where path}: must be ${toJSON s.const}, got ${toJSON v}" ] else [ ])
          (
            if s ? enum && !(elem v s.enum) then
              [ "${where path}: must be one of ${concatStringsSep ", " (map toJSON s.enum)}, got ${toJSON v}" ]
            else
              [ ]
          )
          (if t == "string" then stringErrors s path v else [ ])
          (if t == "integer" || t == "number" then numberErrors s path v else [ ])
          (if t == "array" then arrayErrors root s path v else [ ])
          (if t == "object" then objectErrors root s path v else [ ])
        ];

  stringErrors =
    s: path: v:
    concatLists [
      (if s ? pattern && match s.pattern v == null then [ "${where path}: ${toJSON v} does not match ${s.pattern}" ] else [ ])
      (
        if s ? minLength && stringLength v < s.minLength then
          [ "${where path}: must be at least ${toString s.minLength} characters long" ]
        else
          [ ]
      )
      (
        if s ? maxLength && stringLength v > s.maxLength then
          [ "${where path}: must be at most ${toString s.maxLength} characters long" ]
        else
          [ ]
      )
    ];

  numberErrors =
    s: path: v:
    concatLists [
      (if s ? minimum && v < s.minimum then [ "${where path}: must be >= ${toJSON s.minimum}, got ${toJSON v}" ] else [ ])
      (if s ? maximum && v > s.maximum then [ "${where path}: must be <= ${toJSON s.maximum}, got ${toJSON v}" ] else [ ])
    ];

  arrayErrors =
    root: s: path: v:
    let
      n = length v;
      dups = duplicates v;
    in
    concatLists [
      (if s ? minItems && n < s.minItems then [ "${where path}: must have at least ${toString s.minItems} item(s), got ${toString n}" ] else [ ])
      (if s ? maxItems && n > s.maxItems then [ "${where path}: must have at most ${toString s.maxItems} item(s), got ${toString n}" ] else [ ])
      (
        if (s.uniqueItems or false) && dups != [ ] then
          [ "${where path}: items must be unique, ${toJSON (head dups)} appears more than once" ]
        else
          [ ]
      )
      (if s ? items then concatLists (genList (i: errors root s.items (index path i) (elemAt v i)) n) else [ ])
    ];

  objectErrors =
    root: s: path: v:
    let
      props = s.properties or { };
      required = s.required or [ ];
      missing = filter (k: !(v ? ${k})) required;
      unknown = if s ? additionalProperties then filter (k: !(props ? ${k})) (attrNames v) else [ ];
      present = filter (k: v ? ${k}) (attrNames props);
    in
    concatLists [
      (map (k: "${child path k}: required field is missing") missing)
      (map (k: "${child path k}: unknown field") unknown)
      (concatLists (map (k: errors root props.${k} (child path k) v.${k}) present))
    ];
in
{
  inherit jsonType;

  # validate schema value: the list of error messages ("field.path: what is wrong"),
  # depth first with the keys of each object in alphabetical order; [] when valid.
  validate = schema: value: errors schema schema "" value;
}
