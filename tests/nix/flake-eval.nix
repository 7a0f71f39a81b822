# Evaluates flake.nix's outputs against TEST DOUBLES of its inputs
# (nixpkgs-test-double/, and a rust-overlay stand-in below), so a typo in
# the flake's own expressions fails CI even though nixpkgs cannot be
# fetched here. Run: nix-instantiate --eval --strict tests/nix/flake-eval.nix
let
  flake = import ../../flake.nix;
  nixpkgs = {
    lib = import ./nixpkgs-test-double/lib.nix;
    outPath = ./nixpkgs-test-double;
  };
  # rust-overlay stand-in: rust-bin.stable.<version>.default.override
  rust-overlay.overlays.default = final: prev: {
    rust-bin.stable = builtins.listToAttrs [{
      name = "1.93.1";
      value.default.override = args:
        assert args.extensions == [ "rust-src" "clippy" "rustfmt" ];
        { testDouble = "rust-toolchain"; version = "1.93.1"; inherit (args) targets; };
    }];
  };
  outputs = flake.outputs { self = outputs; inherit nixpkgs rust-overlay; };
  sys = "x86_64-linux";
  pkg = outputs.packages.${sys}.default;
  checks = outputs.checks.${sys};
in
assert builtins.isString flake.description;
assert builtins.attrNames flake.inputs == [ "nixpkgs" "rust-overlay" ];
assert pkg.pname == "netpulse";
assert pkg.version == (builtins.fromTOML (builtins.readFile ../../Cargo.toml)).package.version;
assert pkg.rustc.version == "1.93.1";
assert builtins.attrNames checks == [ "build" "clippy" "fmt" "ops-lint" "test" ];
assert checks.test.pname == "netpulse-test";
assert checks.clippy.pname == "netpulse-clippy";
assert builtins.attrNames outputs.packages == [ "aarch64-linux" "x86_64-linux" ];
{
  package = { inherit (pkg) pname version postInstall doCheck; meta = pkg.meta; };
  checks = builtins.mapAttrs (_: c: c.buildPhase or c.script or "package") checks;
  devShell = map (p: p.name or p.testDouble) outputs.devShells.${sys}.default.packages;
  formatter = outputs.formatter.${sys}.name;
}
