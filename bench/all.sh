#!/usr/bin/env bash
# Every measured path of issue 16 in one run, one table of ratios against each goal:
#   sign-in (bench/login.sh: login vs the bare wry window), silent re-login and cold `token`
#   (bench/silent.sh), the pipe (examples/pipe_bench/:
#   cached `token` vs a bare echo server, 1/16/256 clients), refresh (examples/refresh_bench.rs:
#   the agent's refresh vs a bare curl POST), the agent's RSS, the shipped binaries' sizes.
# Usage: bash bench/all.sh [LOGIN_RUNS]   (default 7; needs no display: it starts Xvfb)
#   BENCH_DIST=auto (default: build the dist profile only if its binaries are missing),
#   BENCH_DIST=build (cargo decides what is stale; fat LTO takes minutes), BENCH_DIST=skip.
#   BENCH_ROUNDS / BENCH_SECS: pipe rounds and seconds per phase (5 / 1); BENCH_REFRESH_RUNS (21).
# The same pipe benchmark on the Windows named pipe under Wine is a separate script, not run here:
#   bash bench/wine-pipe.sh   (the staged dist finesse-sso.exe; a report, no goal)
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
ensure_rust
ensure_packages "${FINESSE_SSO_PACKAGES[@]}" curl
if [ -z "${BENCH_UNDER_XVFB:-}" ]; then
    # One Xvfb for the agent's and login's windows (bench/login.sh starts its own as well).
    BENCH_UNDER_XVFB=1 exec xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp -noreset" bash "$0" "$@"
fi
login_runs=${1:-7}
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
work=$(mktemp -d)
trap 'kill ${agent_pid:-} ${emu_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
say() { echo "== $*" >&2; }

# One release build for everything below (bench/login.sh's own build is then a no-op).
start=$SECONDS
cargo build --release --locked --quiet --bins --example bare_window --example pipe_bench --example refresh_bench
say "release build: $((SECONDS - start)) s"
echo "release build $((SECONDS - start)) s" > "$work/builds"
bin="$target/release/finesse-sso"
ex="$target/release/examples"

# The size row measures what ships: the dist profile, built as .ci/package builds it.
dist="$target/dist"
if [ "${BENCH_DIST:-auto}" = build ] || { [ "${BENCH_DIST:-auto}" = auto ] &&
    ! { [ -x "$dist/finesse-sso" ] && [ -x "$dist/finesse-sso-webview" ]; }; }; then
    start=$SECONDS
    cargo build --profile dist --locked --quiet --bins --example gen-assets
    say "dist build: $((SECONDS - start)) s"
    echo "dist build $((SECONDS - start)) s" >> "$work/builds"
fi
python3 - "$dist" > "$work/size.json" <<'PY'
import json, os, subprocess, sys
d = sys.argv[1]
out = {}
for exe in ("finesse-sso", "finesse-sso-webview"):
    p = os.path.join(d, exe)
    if os.path.exists(p):
        # Stale when a source file changed after the build (cargo would rebuild it).
        newer = subprocess.run(["find", "src", "crates", "Cargo.toml", "Cargo.lock", "-newer", p,
                                "-type", "f", "-print", "-quit"], capture_output=True, text=True).stdout
        out[exe] = {"bytes": os.path.getsize(p), "stale": bool(newer.strip())}
print(json.dumps(out))
PY

# The emulator for the agent, refresh and curl (bench/login.sh starts its own).
. bench/emulator.sh
start_emulator "$bin" "$work"
server=(--server "$finesse" --user agent1 --ca-file "$ca")

# The real agent, lazy: pipe_bench reads its RSS before the first sign-in, then asks.
mkdir -m 700 "$work/home"
FINESSE_SSO_HOME="$work/home" "$bin" agent run --lazy "${server[@]}" 2> "$work/agent.log" &
agent_pid=$!
for _ in $(seq 200); do grep -q 'ready on' "$work/agent.log" && break; sleep 0.05; done
socket=$(sed -n 's/^finesse-sso agent: ready on \(.*\) (profile .*/\1/p' "$work/agent.log")
[ -S "$socket" ] || { echo "the agent did not start:" >&2; cat "$work/agent.log" >&2; exit 1; }

say "pipe: the agent's cached token vs a bare echo server (load $(cut -d' ' -f1-3 /proc/loadavg))"
"$ex/pipe_bench" --socket "$socket" --rounds "${BENCH_ROUNDS:-5}" --secs "${BENCH_SECS:-1}" \
    --json "$work/pipe.json" >&2

say "refresh: the agent's refresh vs a bare curl POST (load $(cut -d' ' -f1-3 /proc/loadavg))"
# curl's tokens come from a sign-in of its own (the refresh token never leaves the agent).
mkdir -m 700 "$work/login-home"
FINESSE_SSO_HOME="$work/login-home" "$bin" login "${server[@]}" 2>/dev/null |
    "$ex/refresh_bench" --socket "$socket" --server "$finesse" --ca-file "$ca" \
        --runs "${BENCH_REFRESH_RUNS:-21}" --json "$work/refresh.json" >&2
FINESSE_SSO_HOME="$work/home" "$bin" agent stop >/dev/null 2>&1 || true
wait "$agent_pid" 2>/dev/null || true
agent_pid=

# Silent re-login and cold `token` (items 2–3): bench/silent.sh with this run's release build
# writes silent.json, silent_mem.json and cold.json here; a missing file is a "not measured" row,
# never a pass.
say "silent re-login and cold token: bench/silent.sh (load $(cut -d' ' -f1-3 /proc/loadavg))"
BENCH_BIN="$bin" BENCH_OUT="$work" bash bench/silent.sh "$login_runs" >&2 || say "bench/silent.sh failed: its rows say not measured"

say "sign-in: login vs the bare wry window, $login_runs runs each (load $(cut -d' ' -f1-3 /proc/loadavg))"
BENCH_CHROMIUM=0 MEASURE_JSON="$work/login.json" bash bench/login.sh "$login_runs" >&2 || true

python3 bench/table.py "$work"
