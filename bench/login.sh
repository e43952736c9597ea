#!/usr/bin/env bash
# Benchmark for `finesse-sso login`: time from start to token printed and peak memory of the whole
# process tree, against headless Chromium (Debian's, driven by playwright-core) on the same
# emulator flow (Finesse → IdS → IdP auto-login → IdS → Finesse, over TLS). Interleaved runs in
# one Xvfb; medians. Usage: bash bench/login.sh [RUNS]   (default 7; MEASURE_JSON=FILE also
# writes the medians as JSON, for bench/all.sh; BENCH_BIN below)
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
ensure_rust
# BENCH_CHROMIUM=0 leaves Chromium out (bench/all.sh: its goals compare with the bare window only).
with_chromium=${BENCH_CHROMIUM:-1}
ensure_packages "${FINESSE_SSO_PACKAGES[@]}"
if [ "$with_chromium" = 1 ]; then
    ensure_packages chromium
    command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
fi
runs=${1:-7}
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
# BENCH_BIN=PATH measures that finesse-sso (its finesse-sso-webview beside it), e.g. what ships:
# BENCH_BIN=target/dist/finesse-sso after `cargo build --profile dist --bins`.
if [ -n "${BENCH_BIN:-}" ]; then
    cargo build --release --locked --quiet --example bare_window
    bin=$(realpath "$BENCH_BIN")
else
    cargo build --release --locked --quiet --bins --example bare_window
    bin="$target/release/finesse-sso"
fi
[ "$with_chromium" != 1 ] || [ -d bench/node_modules/playwright-core ] ||
    (cd bench && npm install --no-audit --no-fund --silent)

work=$(mktemp -d)
trap 'kill "${emu_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/emulator.sh
start_emulator "$bin" "$work"
token_url="${finesse}desktop/sso/token?cc_username=agent1&return_refresh_token=true"

# Each finesse-sso run gets a fresh home: a full sign-in every time, no saved session. The
# user's caches (XDG_CACHE_HOME: GStreamer's registry, fonts, shaders) are shared by all three
# commands, as on a user's machine; a fresh cache per run cost ours ≈ 50 ms the others did not pay.
ours="h=\$(mktemp -d); FINESSE_SSO_HOME=\$h $bin login --server $finesse --user agent1 --ca-file $ca; s=\$?; rm -rf \$h; exit \$s"
chromium="node bench/chromium_login.mjs '$token_url'"
bare="$target/release/examples/bare_window '$token_url' $ca"
echo "finesse-sso $("$bin" --version | cut -d' ' -f2), $(chromium --version 2>/dev/null | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
commands=("finesse-sso login=$ours" "bare wry window=$bare")
[ "$with_chromium" != 1 ] || commands+=("chromium (playwright-core)=$chromium")
xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp -noreset" \
    python3 bench/measure.py --runs "$runs" ${MEASURE_JSON:+--json "$MEASURE_JSON"} "${commands[@]}"
