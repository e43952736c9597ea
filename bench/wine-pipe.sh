#!/usr/bin/env bash
# The pipe benchmark (issue 16, item 4) on the Windows named pipe under Wine (a report, no goal):
# examples/pipe_bench (release, x86_64-pc-windows-gnu) against the shipped dist finesse-sso.exe
# that .ci/windows-package staged, `agent run --lazy` on its real named pipe in a fresh Wine
# prefix, beside pipe_bench's own echo server on a named pipe (the floor), 1/16/256 clients
# interleaved. The first sign-in goes through the test-only window stand-in
# (examples/window_stand_in.rs), as in .ci/wine-e2e: WebView2 cannot run here.
# Usage: bash bench/wine-pipe.sh   (BENCH_ROUNDS / BENCH_SECS: rounds and seconds per phase, 5 / 1)
# Not part of bench/all.sh: Wine's named pipes go through wineserver, so these numbers say what
# Wine costs, not what Windows does (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
. .ci/wine-env.sh
ensure_rust
wine_setup
say() { echo "== $*" >&2; }
fail() { echo "wine-pipe: FAIL: $*" >&2; [ -n "${logs:-}" ] && tail -n 20 "$logs"/*.log >&2; exit 1; }
triple=x86_64-pc-windows-gnu
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export CARGO_TARGET_DIR=$target_dir
exe=$target_dir/$triple/msi-stage/finesse-sso.exe
[ -f "$exe" ] || fail "$exe is missing: run .ci/windows-package first (it builds and stages the dist .exe)"

start=$SECONDS
cargo build --release --locked --quiet --target "$triple" --example pipe_bench --example window_stand_in
say "release build (Windows): $((SECONDS - start)) s"
ex=$target_dir/$triple/release/examples
for f in pipe_bench window_stand_in; do [ -f "$ex/$f.exe" ] || fail "no $ex/$f.exe"; done

work=$(mktemp -d)
logs=$work/logs
mkdir -p "$logs"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wine_prefix_remove "$work/pfx"
    rm -rf "$work"
}
trap cleanup EXIT
wine_prefix "$work/pfx"

# Waits up to $2 seconds for a line matching $3 in file $1 (the process writes it when ready).
wait_for_line() {
    local file=$1 deadline=$((SECONDS + $2))
    until grep -Eq "$3" "$file" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no line matching /$3/ in $(basename "$file") within $2 s"
        sleep 0.2
    done
}
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"v": v}))' "$@"; }

wine "$exe" emulate >"$logs/emulate.out" 2>"$logs/emulate.log" &
pids+=($!)
wait_for_line "$logs/emulate.out" 60 '"event": ?"ready"'
head -n 1 "$logs/emulate.out" >"$work/ready.json"
server=$(json "$work/ready.json" 'v["finesse_url"]')
ca=$(json "$work/ready.json" 'v["ca_file"]')

profile=pipe-bench
FINESSE_SSO_WEBVIEW=$(winepath -w "$ex/window_stand_in.exe" 2>/dev/null)
export FINESSE_SSO_WEBVIEW
# Lazy: pipe_bench reads the agent's working set before the first sign-in, then asks.
wine "$exe" agent run --lazy --server "$server" --user agent1 --ca-file "$ca" --profile "$profile" \
    >"$logs/agent.out" 2>"$logs/agent.log" &
agent_pid=$!
pids+=("$agent_pid")
wait_for_line "$logs/agent.log" 60 'ready on '
pipe=$(sed -n 's/.*ready on \([^ ]*\) .*/\1/p' "$logs/agent.log" | head -n 1)
[[ "$pipe" == '\\.\pipe\finesse-sso-'*"-$profile" ]] || fail "pipe name $pipe"

say "pipe under Wine: the dist agent's cached token vs a bare echo on $pipe (load $(cut -d' ' -f1-3 /proc/loadavg))"
wine "$ex/pipe_bench.exe" --socket "$pipe" --rounds "${BENCH_ROUNDS:-5}" --secs "${BENCH_SECS:-1}" \
    --json "$(winepath -w "$work/pipe.json" 2>/dev/null)" 2>"$logs/pipe_bench.log" ||
    fail "pipe_bench exited $?"
# The same process seen from Linux (wine execs its loader in place): what the working set is
# compared with.
say "the agent's Linux process after the run: $(grep -h VmRSS "/proc/$agent_pid/status" 2>/dev/null || echo 'not found')"
say "done (load $(cut -d' ' -f1-3 /proc/loadavg)); $(wine --version)"
if [ -n "${BENCH_JSON:-}" ]; then cp "$work/pipe.json" "$BENCH_JSON"; fi
