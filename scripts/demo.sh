#!/usr/bin/env bash
# README command 1: set up everything, then run the main job — a seed with its own etcd and
# sample profiles and machines — until Ctrl-C. State goes to ${XDG_CACHE_HOME:-~/.cache}/lpmos/demo
# unless LPMOS_STATE_DIR says otherwise. Arguments are passed to `lpmos demo` (e.g. --exit).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LPMOS_ROOT"
export LPMOS_STATE_DIR="${LPMOS_STATE_DIR:-$LPMOS_CACHE/demo}"
exec node bin/lpmos.js demo "$@"
