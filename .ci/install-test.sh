#!/usr/bin/env bash
# Both ways of installing on a server, each followed by the daemon started the way the unit
# starts it: its ExecStart line as the ecwid-sync user, with the state directory and the
# token credential systemd would provide, against a local emulated store.
# - manual: the README's install block "By hand, on other distributions", run as written.
# - package: the .deb from packaging/build-deb.sh, installed with dpkg -i, configured as
#   its postinst says, upgraded over itself keeping the edited config, removed, purged.
# `.ci/install-test.sh manual` or `... package` runs one; without an argument, both.
#
# It needs root and changes the machine (users ecwid-sync and ecwid-install-reader,
# /etc/ecwid-sync, /usr/local/bin/ecwid-sync, the unit in /etc/systemd/system, the package
# ecwid-sync, /var/lib/ecwid-sync, /run/credentials/ecwid-sync.service), so it is not part
# of `cargo test`: run it on a scratch machine or container, `sudo .ci/install-test.sh`.
# It refuses to start where ecwid-sync is installed already, and removes what it
# installed when it ends (ECWID_SYNC_INSTALL_TEST_KEEP=1 keeps it for a look).
#
# Not covered, for want of a running systemd: systemd itself reading the unit, the
# sandbox (ProtectSystem= and the rest) and Type=notify; the maintainer scripts' systemctl
# calls, which they skip without a running systemd. Where systemd-analyze exists, the unit
# is checked with `systemd-analyze verify`. The package route builds a release binary
# (cargo-deb packages release builds) and is skipped, saying so, without cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "install-test: $*"; }
skip() { echo "install-test: skipped: $*"; exit 0; }
fail() { echo "install-test: FAILED: $*" >&2; exit 1; }

routes=${1:-manual package}
case $routes in
  manual | package | "manual package") ;;
  *) fail "unknown route $1: manual or package" ;;
esac
[ "${ECWID_SYNC_INSTALL_TEST_KEEP:-}" != 1 ] || [ "$routes" != "manual package" ] ||
  fail "ECWID_SYNC_INSTALL_TEST_KEEP=1 keeps one route's installation: name it (manual or package)"
[ "$(id -u)" = 0 ] || skip "needs root: it creates users and writes /etc, /usr/local/bin, /var/lib and /run"
for tool in cargo install setpriv useradd userdel usermod sqlite3 awk sed dpkg zcat; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
for path in /etc/ecwid-sync /usr/local/bin/ecwid-sync /usr/bin/ecwid-sync /etc/systemd/system/ecwid-sync.service \
  /usr/lib/systemd/system/ecwid-sync.service /var/lib/ecwid-sync; do
  [ ! -e "$path" ] || fail "$path exists: ecwid-sync looks installed here; run this on a scratch machine"
done
! id ecwid-sync >/dev/null 2>&1 || fail "the user ecwid-sync exists: run this on a scratch machine"
! dpkg-query -W ecwid-sync >/dev/null 2>&1 || fail "the package ecwid-sync is known to dpkg: run this on a scratch machine"

reader=ecwid-install-reader
work=$(mktemp -d)
chmod 0755 "$work"
daemon_pid=
emulator_pid=
stop_daemon() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  [ -z "$daemon_pid" ] || wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
}
uninstall() { # what either route installed, and what the daemon made
  stop_daemon
  if dpkg-query -W ecwid-sync >/dev/null 2>&1; then
    dpkg --purge ecwid-sync >/dev/null 2>&1 || true
  fi
  rm -rf /etc/ecwid-sync /usr/local/bin/ecwid-sync /etc/systemd/system/ecwid-sync.service \
    /var/lib/ecwid-sync /run/credentials/ecwid-sync.service
  userdel "$reader" 2>/dev/null || true
  userdel ecwid-sync 2>/dev/null || true
  groupdel ecwid-sync 2>/dev/null || true
}
cleanup() {
  stop_daemon
  [ -z "$emulator_pid" ] || kill "$emulator_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${ECWID_SYNC_INSTALL_TEST_KEEP:-}" = 1 ]; then
    step "kept the installation and $work"
    return
  fi
  uninstall
  rm -rf "$work"
}
trap cleanup EXIT

as_user() { # as_user USER COMMAND...: with the user's groups, like systemd's User=
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs -- "$@"
}

step "building (debug profile; the README builds release, the commands are the same)"
cargo build --locked --quiet -p ecwid-sync -p ecwid-emulator --bins
bin_dir=${CARGO_TARGET_DIR:-target}/debug
bin_dir=$(cd "$bin_dir" && pwd)

step "starting an emulated store"
# Exported: the install block reads the token with `read -rs`, which the manual route skips.
export token=secret_install_test
"$bin_dir/ecwid-emulator" --listen 127.0.0.1:0 --token "$token" --products 50 >"$work/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/emulator.out" && break
  sleep 0.1
done
store_url=$(sed -n 's/^listening on //p' "$work/emulator.out")
[ -n "$store_url" ] || fail "the emulator did not start: $(cat "$work/emulator.out")"

# The same checks for either route: owners and modes, what the service user may read,
# check-config, ExecStart of the installed unit as the service user against the emulated
# store, a group member's status and backup, SIGTERM.
check_service() {
  local unit=$1
  step "ownership and modes"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync)" = "root:ecwid-sync 750" ] || fail "/etc/ecwid-sync is $(stat -c '%U:%G %a' /etc/ecwid-sync)"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)" = "root:ecwid-sync 640" ] || fail "config.toml is $(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync/token)" = "root:root 600" ] || fail "the token is $(stat -c '%U:%G %a' /etc/ecwid-sync/token)"
  as_user ecwid-sync cat /etc/ecwid-sync/config.toml >/dev/null || fail "ecwid-sync cannot read its config"
  as_user ecwid-sync cat /etc/ecwid-sync/token >/dev/null 2>&1 && fail "ecwid-sync can read the token file directly"
  grep -q '^ConfigurationDirectoryMode=0750$' "$unit" || fail "the unit does not keep /etc/ecwid-sync at 0750"
  if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" >"$work/verify.out" 2>&1 ||
      step "systemd-analyze verify (not fatal without a running systemd): $(tr '\n' ' ' <"$work/verify.out")"
  fi

  step "what systemd does at start: the state directory and the token credential"
  install -d -m 0770 -o ecwid-sync -g ecwid-sync /var/lib/ecwid-sync
  credentials=/run/credentials/ecwid-sync.service
  install -d -m 0500 -o ecwid-sync -g ecwid-sync "$credentials"
  source=$(sed -n 's/^LoadCredential=token://p' "$unit")
  install -m 0400 -o ecwid-sync -g ecwid-sync "$source" "$credentials/token"
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  [ -n "$exec_start" ] || fail "no ExecStart in the unit"

  step "check-config as the service user, with the credential in place"
  as_user ecwid-sync env -i PATH=/usr/local/bin:/usr/bin:/bin CREDENTIALS_DIRECTORY="$credentials" \
    ecwid-sync --config /etc/ecwid-sync/config.toml check-config >"$work/check.out" 2>&1 ||
    fail "check-config as ecwid-sync: $(cat "$work/check.out")"

  step "\$ $exec_start   (as ecwid-sync, UMask=0007)"
  (
    umask 0007
    # Word splitting of ExecStart is what systemd does too (no quoting in this unit's line).
    # shellcheck disable=SC2086
    exec setpriv --reuid=ecwid-sync --regid=ecwid-sync --init-groups --no-new-privs -- \
      env -i PATH=/usr/local/bin:/usr/bin:/bin CREDENTIALS_DIRECTORY="$credentials" $exec_start
  ) >"$work/daemon.log" 2>&1 &
  daemon_pid=$!

  step "a member of the group reads the mirror: sudo usermod -aG ecwid-sync $reader"
  useradd --system --user-group --shell /usr/sbin/nologin "$reader"
  usermod -aG ecwid-sync "$reader"
  mirror=/var/lib/ecwid-sync/mirror.db
  products=
  for _ in $(seq 600); do
    kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon stopped: $(cat "$work/daemon.log")"
    if as_user "$reader" ecwid-sync status --json --mirror "$mirror" >"$work/status.json" 2>/dev/null; then
      products=$(sed -n '/"kind": "products"/,/}/ s/.*"rows": \([0-9]*\).*/\1/p' "$work/status.json" | head -1)
      [ "$products" = 50 ] && break
    fi
    sleep 0.1
  done
  [ "$products" = 50 ] || fail "the mirror did not get the store's 50 products (status: $(cat "$work/status.json" 2>/dev/null)); daemon log: $(cat "$work/daemon.log")"
  as_user "$reader" ecwid-sync status --mirror "$mirror" >"$work/status.txt" 2>&1 || fail "status as a group member: $(cat "$work/status.txt")"
  grep -q "daemon: running" "$work/status.txt" || fail "status does not see the daemon: $(cat "$work/status.txt")"

  [ "$(head -1 "$work/status.txt")" = "$(ecwid-sync --version)" ] ||
    fail "status does not start with the version: $(head -1 "$work/status.txt")"

  step "backup as a group member: sqlite3 $mirror \".backup ...\""
  rm -rf "$work/backup"
  install -d -o "$reader" "$work/backup"
  as_user "$reader" sqlite3 "$mirror" ".backup $work/backup/mirror.db" || fail "the backup failed"
  [ "$(sqlite3 "$work/backup/mirror.db" 'SELECT count(*) FROM products')" = 50 ] || fail "the backup lacks the products"

  step "stopping the daemon (SIGTERM, as systemctl stop)"
  kill -TERM "$daemon_pid"
  code=0
  wait "$daemon_pid" || code=$?
  daemon_pid=
  [ "$code" = 0 ] || fail "the daemon exited with $code: $(cat "$work/daemon.log")"
  grep -q "ecwid-sync.service/token" "$work/daemon.log" && fail "the daemon log names a problem with the token: $(cat "$work/daemon.log")"
  ! grep -q "$token" "$work/daemon.log" || fail "the daemon log shows the token"
}

manual_route() {
  # The install block exactly as the README shows it, except: the binary is the debug build,
  # the token is the emulator's, the `then edit it` step points the config at the emulator,
  # and systemctl (no systemd here) is replaced by starting ExecStart by hand below.
  block=$(awk '/^### By hand, on other distributions/ { section = 1 }
               section && /^```sh$/ { inside = 1; next }
               inside && /^```$/ { exit }
               inside' README.md)
  ran=0
  while IFS= read -r line; do
    case $line in
      "" | "cargo build"* | *systemctl* | "read "*) continue ;;
    esac
    command=${line#sudo }
    command=${command//target\/release\/ecwid-sync/$bin_dir/ecwid-sync}
    step "\$ $command"
    bash -c "$command" >"$work/step.out" 2>&1 || fail "$line: $(cat "$work/step.out")"
    case $line in
      *"check-config"*)
        grep -q ": valid" "$work/step.out" || fail "check-config said: $(cat "$work/step.out")"
        grep -q "$token" "$work/step.out" && fail "check-config printed the token"
        ;;
      *"then edit it"*)
        sed -i -e "s|^# api_base = .*|api_base = \"$store_url/api/v3\"|" \
          -e 's|^# listen = .*|listen = "127.0.0.1:0"|' -e 's|^store_id = 0$|store_id = 1003|' \
          /etc/ecwid-sync/config.toml
        ;;
    esac
    ran=$((ran + 1))
  done <<<"$block"
  [ "$ran" -ge 8 ] || fail "found only $ran install commands in the README"
  grep -q "check-config" <<<"$block" || fail "the README's install block has no check-config"
  check_service /etc/systemd/system/ecwid-sync.service
}

# The package as an operator installs it: dpkg -i, then the steps its postinst names (the
# token, store_id), then upgraded over itself and purged.
package_route() {
  local cargo_deb
  cargo_deb=$(command -v cargo-deb || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-deb")
  if [ ! -x "$cargo_deb" ]; then
    step "skipped the package route: cargo-deb not found (cargo install cargo-deb --locked)"
    return
  fi
  step "building the package (release build): packaging/build-deb.sh"
  PATH="$(dirname "$cargo_deb"):$PATH" packaging/build-deb.sh --output "$work/deb" \
    >"$work/build-deb.out" 2>&1 || fail "build-deb.sh: $(tail -20 "$work/build-deb.out")"
  deb=$(ls "$work"/deb/ecwid-sync_*.deb)
  step "built $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"

  step "\$ dpkg -i $(basename "$deb")"
  dpkg -i "$deb" >"$work/dpkg.out" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg.out")"
  grep -q "set store_id in /etc/ecwid-sync/config.toml" "$work/dpkg.out" ||
    fail "the postinst does not say what to set: $(cat "$work/dpkg.out")"
  for path in /usr/bin/ecwid-sync /usr/lib/systemd/system/ecwid-sync.service \
    /usr/lib/sysusers.d/ecwid-sync.conf /usr/share/man/man1/ecwid-sync.1.gz \
    /usr/share/man/man1/ecwid-sync-outbox-list.1.gz /usr/share/doc/ecwid-sync/config.toml.example \
    /usr/share/bash-completion/completions/ecwid-sync /usr/share/zsh/vendor-completions/_ecwid-sync \
    /usr/share/fish/vendor_completions.d/ecwid-sync.fish; do
    [ -e "$path" ] || fail "the package did not install $path"
  done
  [ "$(dpkg-query -W -f='${Conffiles}' ecwid-sync | awk '{ print $1 }')" = /etc/ecwid-sync/config.toml ] ||
    fail "config.toml is not the package's conffile: $(dpkg-query -W -f='${Conffiles}' ecwid-sync)"
  [ "$(getent passwd ecwid-sync | cut -d: -f6,7)" = /var/lib/ecwid-sync:/usr/sbin/nologin ] ||
    fail "the user ecwid-sync is $(getent passwd ecwid-sync)"
  [ ! -e /etc/systemd/system/multi-user.target.wants/ecwid-sync.service ] || fail "the package enabled the service"
  [ "$(stat -c '%U:%G %a' /var/lib/ecwid-sync)" = "ecwid-sync:ecwid-sync 770" ] ||
    fail "/var/lib/ecwid-sync is $(stat -c '%U:%G %a' /var/lib/ecwid-sync)"
  grep -q '^ExecStart=/usr/bin/ecwid-sync ' /usr/lib/systemd/system/ecwid-sync.service ||
    fail "the unit does not start /usr/bin/ecwid-sync"
  zcat /usr/share/man/man1/ecwid-sync.1.gz | grep -q '^\.TH ecwid-sync 1' || fail "the man page is no man page"

  step "the unconfigured service refuses to start, naming the key and the file"
  code=0
  as_user ecwid-sync env -i PATH=/usr/bin:/bin ecwid-sync --config /etc/ecwid-sync/config.toml run \
    >"$work/unset.out" 2>&1 || code=$?
  [ "$code" = 2 ] || fail "run with the shipped config exited with $code: $(cat "$work/unset.out")"
  grep -q "^ecwid-sync: set \[ecwid\] store_id in /etc/ecwid-sync/config.toml" "$work/unset.out" ||
    fail "run with the shipped config said: $(cat "$work/unset.out")"

  step "the token without a trace in the history, then store_id (and the emulator's address)"
  install -m 0600 /dev/stdin /etc/ecwid-sync/token <<<"$token"
  sed -i -e "s|^# api_base = .*|api_base = \"$store_url/api/v3\"|" \
    -e 's|^# listen = .*|listen = "127.0.0.1:0"|' -e 's|^store_id = 0$|store_id = 1003|' \
    /etc/ecwid-sync/config.toml
  ecwid-sync --config /etc/ecwid-sync/config.toml check-config >"$work/check-root.out" 2>&1 ||
    fail "check-config as root: $(cat "$work/check-root.out")"
  check_service /usr/lib/systemd/system/ecwid-sync.service

  step "upgrade over itself: dpkg -i --force-confold keeps the edited config, owners and modes"
  cp /etc/ecwid-sync/config.toml "$work/config.edited"
  dpkg -i --force-confold "$deb" >"$work/upgrade.out" 2>&1 || fail "the upgrade: $(cat "$work/upgrade.out")"
  cmp -s /etc/ecwid-sync/config.toml "$work/config.edited" || fail "the upgrade changed the edited config"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync)" = "root:ecwid-sync 750" ] || fail "after the upgrade /etc/ecwid-sync is $(stat -c '%U:%G %a' /etc/ecwid-sync)"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)" = "root:ecwid-sync 640" ] || fail "after the upgrade config.toml is $(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)"
  [ "$(stat -c '%U:%G %a' /etc/ecwid-sync/token)" = "root:root 600" ] || fail "after the upgrade the token is $(stat -c '%U:%G %a' /etc/ecwid-sync/token)"
  as_user ecwid-sync env -i PATH=/usr/bin:/bin CREDENTIALS_DIRECTORY=/run/credentials/ecwid-sync.service \
    ecwid-sync --config /etc/ecwid-sync/config.toml check-config >"$work/check.out" 2>&1 ||
    fail "check-config as ecwid-sync after the upgrade: $(cat "$work/check.out")"

  step "dpkg -r keeps the configuration and the mirror"
  dpkg -r ecwid-sync >"$work/remove.out" 2>&1 || fail "dpkg -r: $(cat "$work/remove.out")"
  [ ! -e /usr/bin/ecwid-sync ] || fail "dpkg -r left /usr/bin/ecwid-sync"
  for path in /etc/ecwid-sync/config.toml /etc/ecwid-sync/token /var/lib/ecwid-sync/mirror.db; do
    [ -e "$path" ] || fail "dpkg -r removed $path"
  done

  step "dpkg --purge removes the configuration, keeps the mirror and says where it is"
  dpkg --purge ecwid-sync >"$work/purge.out" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.out")"
  [ ! -e /etc/ecwid-sync ] || fail "the purge left /etc/ecwid-sync: $(ls -la /etc/ecwid-sync)"
  [ -e /var/lib/ecwid-sync/mirror.db ] || fail "the purge removed the mirror"
  grep -q "the mirror stays in /var/lib/ecwid-sync" "$work/purge.out" ||
    fail "the purge does not say where the mirror stays: $(cat "$work/purge.out")"
  ! dpkg-query -W ecwid-sync >/dev/null 2>&1 || fail "dpkg still knows the package after the purge"
}
for route in $routes; do
  step "=== the $route route"
  "${route}_route"
  step "passed: the $route route installs a service that reads its config and token as ecwid-sync and mirrors the store"
  [ "${ECWID_SYNC_INSTALL_TEST_KEEP:-}" = 1 ] || uninstall
done
