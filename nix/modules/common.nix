# Options shared by several layers. Every layer module imports this file; the module
# system imports it once however many layers do.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.vps.persist = {
    directory = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/persist";
      description = ''
        Where state that must survive a rollback of the root dataset lives. null when the
        root is not rolled back. The storage layer sets it to /persist when
        vps.storage.rollback.enable is true; other layers then keep their state (SSH host
        keys, ACME certificates, …) below it.
      '';
    };

    paths = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/var/lib/acme" ];
      description = ''
        Directories that are bind-mounted from the same path below vps.persist.directory
        when the root is rolled back. Layers add what they need; the storage role creates
        the directories below /persist at install time.
      '';
    };
  };
}
