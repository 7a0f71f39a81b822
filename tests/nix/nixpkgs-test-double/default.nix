# TEST DOUBLE for nixpkgs -- NOT the real thing.
#
# There is no network here to fetch nixpkgs, so tests/nix/flake-eval.nix
# evaluates flake.nix against this stand-in: `import nixpkgs { system;
# overlays; }` returns a package set whose packages are plain attribute sets
# recording how they were built. It checks that the flake's own expressions
# evaluate (names, arguments, overrides), not that nixpkgs would build them.
{ system, overlays ? [ ] }:
let
  lib = import ./lib.nix;
  # A "derivation" that remembers its arguments and supports overrideAttrs.
  drv = kind: attrs: attrs // {
    testDouble = kind;
    overrideAttrs = f: drv kind (attrs // f attrs);
  };
  tool = name: drv "tool" { inherit name; };
  base = {
    inherit lib system;
    makeRustPlatform = { cargo, rustc }: {
      buildRustPackage = args:
        assert args ? pname && args ? version && args ? src && args ? cargoLock;
        drv "buildRustPackage" (args // { inherit cargo rustc; });
    };
    mkShell = args: drv "mkShell" args;
    runCommand = name: env: script: drv "runCommand" (env // { inherit name script; });
    python3Packages = { pip = tool "pip"; };
  } // lib.genAttrs [
    "installShellFiles" "dash" "shellcheck" "mandoc" "rust-analyzer" "nix"
    "protobuf" "cargo-audit" "cargo-deny" "jq" "python3" "nixpkgs-fmt"
  ] tool;
in
builtins.foldl' (pkgs: overlay: pkgs // overlay pkgs pkgs) base overlays
