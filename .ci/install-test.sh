#!/usr/bin/env bash
# The README's install "By hand, on other distributions", run as written, then the daemon
# started the way the unit starts it: its ExecStart line as the ecwid-sync user, with the
# state directory and the token credential systemd would provide, against a local emulated
# store.
#
# It needs root and changes the machine (users ecwid-sync and ecwid-install-reader,
# /etc/ecwid-sync, /usr/local/bin/ecwid-sync, the unit in /etc/systemd/system,
# /var/lib/ecwid-sync, /run/credentials/ecwid-sync.service), so it is not part of
# `cargo test`: run it on a scratch machine or container, `sudo .ci/install-test.sh`.
# It refuses to start where ecwid-sync is installed already, and removes what it
# installed when it ends (ECWID_SYNC_INSTALL_TEST_KEEP=1 keeps it for a look).
#
# Not covered, for want of a running systemd: systemd itself reading the unit, the
# sandbox (ProtectSystem= and the rest) and Type=notify. Where systemd-analyze exists,
# the unit is checked with `systemd-analyze verify`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "install-test: $*"; }
skip() { echo "install-test: skipped: $*"; exit 0; }
fail() { echo "install-test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root: it creates users and writes /etc, /usr/local/bin, /var/lib and /run"
for tool in cargo install setpriv useradd userdel usermod sqlite3 awk sed; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
for path in /etc/ecwid-sync /usr/local/bin/ecwid-sync /etc/systemd/system/ecwid-sync.service /var/lib/ecwid-sync; do
  [ ! -e "$path" ] || fail "$path exists: ecwid-sync looks installed here; run this on a scratch machine"
done
! id ecwid-sync >/dev/null 2>&1 || fail "the user ecwid-sync exists: run this on a scratch machine"

reader=ecwid-install-reader
work=$(mktemp -d)
chmod 0755 "$work"
daemon_pid=
emulator_pid=
cleanup() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  [ -z "$emulator_pid" ] || kill "$emulator_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${ECWID_SYNC_INSTALL_TEST_KEEP:-}" = 1 ]; then
    step "kept the installation and $work"
    return
  fi
  rm -rf /etc/ecwid-sync /usr/local/bin/ecwid-sync /etc/systemd/system/ecwid-sync.service \
    /var/lib/ecwid-sync /run/credentials/ecwid-sync.service "$work"
  userdel "$reader" 2>/dev/null || true
  userdel ecwid-sync 2>/dev/null || true
  groupdel ecwid-sync 2>/dev/null || true
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
# Exported: the install block reads the token with `read -rs`, which the loop below skips.
export token=secret_install_test
"$bin_dir/ecwid-emulator" --listen 127.0.0.1:0 --token "$token" --products 50 >"$work/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/emulator.out" && break
  sleep 0.1
done
store_url=$(sed -n 's/^listening on //p' "$work/emulator.out")
[ -n "$store_url" ] || fail "the emulator did not start: $(cat "$work/emulator.out")"

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
        -e 's|^# listen = .*|listen = "127.0.0.1:0"|' /etc/ecwid-sync/config.toml
      ;;
  esac
  ran=$((ran + 1))
done <<<"$block"
[ "$ran" -ge 8 ] || fail "found only $ran install commands in the README"
grep -q "check-config" <<<"$block" || fail "the README's install block has no check-config"

step "ownership and modes"
[ "$(stat -c '%U:%G %a' /etc/ecwid-sync)" = "root:ecwid-sync 750" ] || fail "/etc/ecwid-sync is $(stat -c '%U:%G %a' /etc/ecwid-sync)"
[ "$(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)" = "root:ecwid-sync 640" ] || fail "config.toml is $(stat -c '%U:%G %a' /etc/ecwid-sync/config.toml)"
[ "$(stat -c '%U:%G %a' /etc/ecwid-sync/token)" = "root:root 600" ] || fail "the token is $(stat -c '%U:%G %a' /etc/ecwid-sync/token)"
as_user ecwid-sync cat /etc/ecwid-sync/config.toml >/dev/null || fail "ecwid-sync cannot read its config"
as_user ecwid-sync cat /etc/ecwid-sync/token >/dev/null 2>&1 && fail "ecwid-sync can read the token file directly"
grep -q '^ConfigurationDirectoryMode=0750$' /etc/systemd/system/ecwid-sync.service || fail "the unit does not keep /etc/ecwid-sync at 0750"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /etc/systemd/system/ecwid-sync.service >"$work/verify.out" 2>&1 ||
    step "systemd-analyze verify (not fatal without a running systemd): $(tr '\n' ' ' <"$work/verify.out")"
fi

step "what systemd does at start: the state directory and the token credential"
install -d -m 0770 -o ecwid-sync -g ecwid-sync /var/lib/ecwid-sync
credentials=/run/credentials/ecwid-sync.service
install -d -m 0500 -o ecwid-sync -g ecwid-sync "$credentials"
source=$(sed -n 's/^LoadCredential=token://p' /etc/systemd/system/ecwid-sync.service)
install -m 0400 -o ecwid-sync -g ecwid-sync "$source" "$credentials/token"
exec_start=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/ecwid-sync.service)
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

step "backup as a group member: sqlite3 $mirror \".backup ...\""
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
grep -q "$token" "$work/daemon.log" && fail "the daemon log shows the token"

step "passed: the documented commands install a service that reads its config and token as ecwid-sync and mirrors the store"
