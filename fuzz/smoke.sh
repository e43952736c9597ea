#!/usr/bin/env bash
# A short smoke run of every fuzz target (5 s each by default), run in CI by .ci/fuzz: every target
# builds and finds nothing, or this fails. Unoptimised build with overflow checks (FUZZ_PROFILE=dev,
# the cheaper build; a few seconds need no speed).
#   fuzz/smoke.sh [SECONDS]
set -euo pipefail
FUZZ_PROFILE=${FUZZ_PROFILE:-dev} exec "$(dirname "$0")/run.sh" "${1:-5}"
