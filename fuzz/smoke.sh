#!/usr/bin/env bash
# A short smoke run of every fuzz target (5 s each by default), for CI that wants one.
# Not part of .ci/test; call it on purpose: fuzz/smoke.sh [SECONDS]
set -euo pipefail
exec "$(dirname "$0")/run.sh" "${1:-5}"
