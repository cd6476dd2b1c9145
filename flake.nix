{
  description = "Convoy: release multi-package Cargo workspaces from a reviewed, deterministic plan";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = nixpkgs.legacyPackages.${system};
        version = "0.1.0";

        # One derivation per binary, all from the same locked workspace.
        binary = { pname, crate }: pkgs.rustPlatform.buildRustPackage {
          inherit pname version;
          src = self;
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [ "--package" crate ];
          # The test suite runs cargo and git on generated workspaces; `checks.tests` runs it.
          doCheck = false;
          meta.mainProgram = pname;
        };

        convoy-plan = binary { pname = "convoy-plan"; crate = "convoy-planner"; };
        convoy-publish = binary { pname = "convoy-publish"; crate = "convoy-executor"; };
        convoy-verify = binary { pname = "convoy-verify"; crate = "convoy-verifier"; };

        convoy = pkgs.symlinkJoin {
          name = "convoy-${version}";
          paths = [ convoy-plan convoy-publish convoy-verify ];
        };

        app = drv: name: {
          type = "app";
          program = "${drv}/bin/${name}";
        };
      in
      {
        packages = {
          inherit convoy convoy-plan convoy-publish convoy-verify;
          default = convoy;
        };

        apps = {
          plan = app convoy-plan "convoy-plan";
          publish = app convoy-publish "convoy-publish";
          verify = app convoy-verify "convoy-verify";
          default = app convoy-plan "convoy-plan";
        };

        devShells.default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            pkgs.cargo-nextest
            pkgs.git
            pkgs.python3
          ];
        };

        checks = {
          inherit convoy;
          tests = convoy-plan.overrideAttrs (old: {
            pname = "convoy-tests";
            doCheck = true;
            nativeCheckInputs = (old.nativeCheckInputs or [ ]) ++ [ pkgs.git pkgs.python3 pkgs.cargo-nextest ];
            checkPhase = ''
              runHook preCheck
              cargo nextest run --workspace --offline
              runHook postCheck
            '';
          });
          fmt = pkgs.runCommand "convoy-fmt" { nativeBuildInputs = [ pkgs.cargo pkgs.rustfmt ]; } ''
            cd ${self}
            cargo fmt --all -- --check
            touch $out
          '';
        };
      });
}
