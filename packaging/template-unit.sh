#!/usr/bin/env bash
# Prints the template unit ecwid-sync@.service, made from systemd/ecwid-sync.service so that
# the two never drift apart: one service per store, the instance name picking the
# configuration directory /etc/ecwid-sync/NAME/ (docs/stores.md, "One process per store").
# Usage: packaging/template-unit.sh [BINARY]   (BINARY: the ExecStart path, default
# /usr/local/bin/ecwid-sync)
set -euo pipefail
unit="$(dirname "$0")/../systemd/ecwid-sync.service"
binary=${1:-/usr/local/bin/ecwid-sync}
sed -e "s|^Description=\(.*\)|Description=\1 (instance %i: /etc/ecwid-sync/%i/config.toml)|" \
  -e "s|^ExecStart=/usr/local/bin/ecwid-sync --config /etc/ecwid-sync/config.toml |ExecStart=$binary --config /etc/ecwid-sync/%i/config.toml |" \
  -e "s|^StateDirectory=ecwid-sync$|StateDirectory=ecwid-sync/%i|" \
  -e "s|^ConfigurationDirectory=ecwid-sync$|ConfigurationDirectory=ecwid-sync/%i|" \
  -e "s|^\(#\?LoadCredential=[a-z_-]*:/etc/ecwid-sync/\)|\1%i/|" \
  -e "s|/run/credentials/ecwid-sync.service/|/run/credentials/ecwid-sync@NAME.service/|g" \
  -e "s|/etc/ecwid-sync/\([a-z_.-]*\)\([ ,)]\)|/etc/ecwid-sync/NAME/\1\2|g" \
  -e "s|/var/lib/ecwid-sync/mirror.db|/var/lib/ecwid-sync/NAME/mirror.db|g" \
  -e "s|systemctl reload ecwid-sync|systemctl reload ecwid-sync@NAME|g" \
  "$unit"
