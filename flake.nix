{
  description = "netpulse: samples every TCP socket on a host and writes rotated JSON Lines, CSV and protobuf files";

  # flake.lock is not committed: it could not be generated where this was
  # written (no network access to GitHub). The first `nix flake lock` (or
  # any `nix build`) creates it; commit it then to pin these inputs.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    # The project pins Rust 1.93.1; nixpkgs carries one rustc at a time, so the
    # exact toolchain comes from rust-overlay.
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, rust-overlay }:
    let
      lib = nixpkgs.lib;
      # Linux builds and tests for real; the FreeBSD binary is built with
      # cargo on FreeBSD (see README "Install on FreeBSD").
      systems = [ "x86_64-linux" "aarch64-linux" ];
      rustVersion = "1.93.1";

      forAllSystems = f: lib.genAttrs systems (system: f (import nixpkgs {
        inherit system;
        overlays = [ rust-overlay.overlays.default ];
      }));

      toolchainFor = pkgs: pkgs.rust-bin.stable.${rustVersion}.default.override {
        extensions = [ "rust-src" "clippy" "rustfmt" ];
        # `cargo check --target x86_64-unknown-freebsd` type-checks the
        # FreeBSD code paths on Linux.
        targets = [ "x86_64-unknown-freebsd" ];
      };

      # Only what the build reads, so editing README does not rebuild.
      srcFor = pkgs: lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions ([
          ./Cargo.toml
          ./Cargo.lock
          ./rustfmt.toml
          ./src
          ./tests
          ./etc
          ./man
          ./rc.d
        ] ++ lib.filter lib.pathExists [ ./proto ./benches ./build.rs ./kmod ]);
      };

      packageFor = pkgs:
        let
          toolchain = toolchainFor pkgs;
          rustPlatform = pkgs.makeRustPlatform { cargo = toolchain; rustc = toolchain; };
        in
        rustPlatform.buildRustPackage {
          pname = "netpulse";
          version = (lib.importTOML ./Cargo.toml).package.version;
          src = srcFor pkgs;
          cargoLock.lockFile = ./Cargo.lock;

          nativeBuildInputs = [ pkgs.installShellFiles ];
          # `checks.test` runs the test suite; building the package does
          # not run it a second time.
          doCheck = false;

          postInstall = ''
            # ours, and tcpstats(4) from next to the kernel module
            for page in man/*.[1-9] kmod/*/*.[1-9]; do
              if [ -e "$page" ]; then installManPage "$page"; fi
            done
            install -Dm0555 rc.d/netpulse $out/etc/rc.d/netpulse
            substituteInPlace $out/etc/rc.d/netpulse \
              --replace-fail /usr/local/bin/netpulse $out/bin/netpulse
            install -Dm0444 etc/netpulse.toml.sample $out/etc/netpulse.toml.sample
            install -Dm0444 etc/newsyslog.conf.d/netpulse.conf \
              $out/etc/newsyslog.conf.d/netpulse.conf
          '';

          meta = {
            description = "Samples every TCP socket on a host on tiered intervals";
            license = lib.licenses.bsd2;
            mainProgram = "netpulse";
            platforms = lib.platforms.linux ++ lib.platforms.freebsd;
          };
        };
    in
    {
      packages = forAllSystems (pkgs: rec {
        netpulse = packageFor pkgs;
        default = netpulse;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            (toolchainFor pkgs)
            pkgs.rust-analyzer
            # the checks CI runs besides cargo
            pkgs.shellcheck
            pkgs.mandoc
            pkgs.dash
            pkgs.nix
            # proto/tcpstats.proto tooling (the build itself needs no protoc)
            pkgs.protobuf
            # dependency and advisory audits
            pkgs.cargo-audit
            pkgs.cargo-deny
            # reading the output
            pkgs.jq
            # `pip install ziglang` gives the C compiler with FreeBSD headers
            # that tests/freebsd uses
            pkgs.python3
            pkgs.python3Packages.pip
          ];
          RUST_BACKTRACE = "1";
        };
      });

      checks = forAllSystems (pkgs:
        let
          package = packageFor pkgs;
          toolchain = toolchainFor pkgs;
          # Reuse the package's vendored dependencies for cargo subcommands.
          cargoCheck = name: command: package.overrideAttrs (old: {
            pname = "netpulse-${name}";
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.dash pkgs.shellcheck pkgs.mandoc ];
            buildPhase = ''
              runHook preBuild
              ${command}
              runHook postBuild
            '';
            doCheck = false;
            installPhase = "touch $out";
            postInstall = "";
          });
        in
        {
          build = package;
          # The tests open loopback sockets and read /proc, both present in
          # the Linux build sandbox; the rc.d test runs the script under dash.
          # The sandbox builds as an unprivileged user, so tests that need
          # root (su(1) to another user) are skipped here; CI runs them.
          test = cargoCheck "test" ''
            cargo test --offline --all-targets -- \
              --skip configtest_judges_directories_as_netpulse_user
          '';
          clippy = cargoCheck "clippy" "cargo clippy --offline --all-targets -- -D warnings";
          fmt = pkgs.runCommand "netpulse-fmt" { nativeBuildInputs = [ toolchain ]; } ''
            export HOME=$TMPDIR
            cd ${srcFor pkgs}
            cargo fmt --all -- --check
            touch $out
          '';
          ops-lint = pkgs.runCommand "netpulse-ops-lint"
            { nativeBuildInputs = [ pkgs.shellcheck pkgs.mandoc ]; } ''
            cd ${srcFor pkgs}
            shellcheck -s sh rc.d/netpulse tests/rcd/rc.subr-test-double tests/rcd/daemon-test-double
            for page in man/*.[1-9] kmod/*/*.[1-9]; do
              if [ -e "$page" ]; then mandoc -T lint -W warning "$page"; fi
            done
            touch $out
          '';
        });

      formatter = forAllSystems (pkgs: pkgs.nixpkgs-fmt);
    };
}
