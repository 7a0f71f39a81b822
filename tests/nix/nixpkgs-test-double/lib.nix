# TEST DOUBLE for the parts of nixpkgs.lib that flake.nix uses (see
# default.nix next to this file).
rec {
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  filter = builtins.filter;
  pathExists = builtins.pathExists;
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  fileset = {
    unions = paths: assert builtins.all builtins.pathExists paths; paths;
    # A string, not a path: interpolating it must not copy the tree.
    toSource = { root, fileset }: assert builtins.isList fileset; toString root;
  };
  licenses = { bsd2 = { spdxId = "BSD-2-Clause"; }; };
  platforms = { linux = [ "x86_64-linux" "aarch64-linux" ]; freebsd = [ "x86_64-freebsd" ]; };
}
