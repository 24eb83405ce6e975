#!/usr/bin/env bash
# README command 1: set up everything, then run the main job — a provisioning lab on this host: a seed
# with its own etcd, DHCP, TFTP, HTTP and apt mirror in a network namespace, and VMs (3 with KVM, 1
# without) that PXE-boot and install Debian 12, with live progress and a summary table. Ctrl-C removes
# the lab. The lab needs root (network namespaces): not root, it re-runs itself through sudo.
# Arguments go to `lpmos demo`: --vms N, --firmware bios|uefi|mixed, --exit, --no-vms (the seed with
# sample profiles and machines only, no root needed; state in ${XDG_CACHE_HOME:-~/.cache}/lpmos/demo
# unless LPMOS_STATE_DIR says otherwise).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LPMOS_ROOT"
export LPMOS_STATE_DIR="${LPMOS_STATE_DIR:-$LPMOS_CACHE/demo}"
no_vms=''
for a in "$@"; do [ "$a" = --no-vms ] && no_vms=1; done
if [ -z "$no_vms" ] && [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then
    printf '\033[1m[demo]\033[0m the lab (network namespace, bridge, VMs) needs root: running it with sudo\n' >&2
    exec sudo env "PATH=$PATH" "LPMOS_STATE_DIR=$LPMOS_STATE_DIR" node bin/lpmos.js demo "$@"
  fi
  printf '\033[1m[demo]\033[0m the lab (network namespace, bridge, VMs) needs root and sudo is not installed: run this as root, or add --no-vms\n' >&2
  exit 2
fi
exec node bin/lpmos.js demo "$@"
