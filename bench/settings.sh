#!/usr/bin/env bash
# WebKit settings and process choices a bare window leaves at their defaults, each measured ALONE
# against the bare wry window on the same emulator flow, interleaved in one Xvfb (issue 16,
# item 1): keep what wins in the product's window, drop what does not. Time and peak tree PSS.
# Usage: bash bench/settings.sh [RUNS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
ensure_rust
ensure_packages "${FINESSE_SSO_PACKAGES[@]}"
runs=${1:-7}
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
cargo build --release --locked --quiet --bins --example bare_window
bin="$target/release/finesse-sso"

work=$(mktemp -d)
trap 'kill "${emu_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/emulator.sh
start_emulator "$bin" "$work"
bare="$target/release/examples/bare_window '${finesse}desktop/sso/token?cc_username=agent1&return_refresh_token=true' $ca"
variants=("bare wry window=$bare")
for s in no-accel no-webgl no-media no-page-cache viewer-cache no-dns-prefetch ephemeral; do
    variants+=("bare + $s=$bare $s")
done
# Process choices (environment). The product sets the first where GL is software
# (src/window/rendering.rs); JavaScriptCore's JIT switches were measured and left out.
variants+=("bare + WEBKIT_DISABLE_DMABUF_RENDERER=WEBKIT_DISABLE_DMABUF_RENDERER=1 $bare")
variants+=("bare + WEBKIT_DISABLE_COMPOSITING_MODE=WEBKIT_DISABLE_COMPOSITING_MODE=1 $bare")
variants+=("bare + JIT off (JSC_useJIT)=JSC_useJIT=0 $bare")
variants+=("bare + optimising JIT tiers off (DFG, FTL)=JSC_useDFGJIT=0 JSC_useFTLJIT=0 $bare")
variants+=("bare + DMA-BUF off and hardware acceleration NEVER=WEBKIT_DISABLE_DMABUF_RENDERER=1 $bare no-accel")
echo "load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs each" >&2
xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp -noreset" \
    python3 bench/measure.py --runs "$runs" "${variants[@]}"
