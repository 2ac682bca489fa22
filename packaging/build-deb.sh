#!/usr/bin/env bash
# Builds target/debian/ecwid-sync_VERSION-1_ARCH.deb (Cargo.toml's [package.metadata.deb]):
# the binary, the man pages and completions it writes itself (so they match its --help),
# the unit from systemd/ with the packaged binary's path and its template for one service
# per store, the example configuration.
# Needs cargo-deb: cargo install cargo-deb --locked. Arguments go to `cargo deb`
# (`--output DIR`, `--deb-version V`).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null ||
  { echo "build-deb: cargo-deb not found; install it with: cargo install cargo-deb --locked" >&2; exit 1; }

cargo build --release --locked -p ecwid-sync --bin ecwid-sync
binary=${CARGO_TARGET_DIR:-target}/release/ecwid-sync

# Cargo.toml's assets name these paths.
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$binary" manpages "$assets/man"
gzip -9n "$assets"/man/*.1
"$binary" completions bash >"$assets/completions/ecwid-sync"
"$binary" completions zsh >"$assets/completions/_ecwid-sync"
"$binary" completions fish >"$assets/completions/ecwid-sync.fish"
# The one unit in systemd/ names the manual route's /usr/local/bin; the package's binary
# is in /usr/bin.
sed 's|^ExecStart=/usr/local/bin/ecwid-sync |ExecStart=/usr/bin/ecwid-sync |' \
  systemd/ecwid-sync.service >"$assets/ecwid-sync.service"
grep -q '^ExecStart=/usr/bin/ecwid-sync ' "$assets/ecwid-sync.service" ||
  { echo "build-deb: the unit's ExecStart no longer starts with /usr/local/bin/ecwid-sync" >&2; exit 1; }

# One service per store, from the same unit (docs/stores.md).
packaging/template-unit.sh /usr/bin/ecwid-sync >"$assets/ecwid-sync@.service"

cargo deb --no-build -p ecwid-sync "$@"
