#!/usr/bin/env bash
# Runs every fuzz target for a fixed time and prints libFuzzer's final stats per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        default: 90 s each, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly toolchain; without one,
# stable with RUSTC_BOOTSTRAP=1 works (set FUZZ_TOOLCHAIN=stable). FUZZ_SANITIZER=none drops
# ASan (faster, finds fewer memory errors; this crate has no unsafe parsing code). FUZZ_PROFILE=dev
# builds unoptimised with debug assertions and overflow checks (about 2.4x less CPU to build, fewer
# executions per second: for short runs).
# Seeds come from fuzz/seeds/<target>/; the growing corpus lives in fuzz/corpus/<target>/ and
# crashes in fuzz/artifacts/<target>/ (both ignored by git). Per-target logs: fuzz/logs/.
# The summary table (target, seconds, executions, exec/s, coverage, corpus, findings) is what
# docs/reliability.md records.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-90}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(token_response jwt xml protocol config websession outcome forms)
fi
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${FUZZ_SANITIZER:-address}
profile=()
case "${FUZZ_PROFILE:-release}" in
    release) ;;
    dev) profile=(--dev) ;;
    *) echo "FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "toolchain $toolchain not installed; using stable with RUSTC_BOOTSTRAP=1" >&2
    toolchain=stable
fi
[ "$toolchain" = stable ] && export RUSTC_BOOTSTRAP=1
mkdir -p logs
status=0
printf '%-15s %5s %12s %8s %6s %7s %s\n' target secs execs exec/s cov corpus findings
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    cargo "+$toolchain" fuzz run "${profile[@]}" --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
    rc=$?
    after=$(find "artifacts/$t" -type f | wc -l)
    execs=$(grep -m1 '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}')
    speed=$(grep -m1 '^stat::average_exec_per_sec' "logs/$t.log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    corpus=$(find "corpus/$t" -type f | wc -l)
    findings=$((after - before))
    [ $rc -ne 0 ] && [ $findings -eq 0 ] && findings="error(rc=$rc, see fuzz/logs/$t.log)"
    [ $rc -ne 0 ] && status=1
    printf '%-15s %5s %12s %8s %6s %7s %s\n' "$t" "$secs" "${execs:-?}" "${speed:-?}" \
        "${cov:-?}" "$corpus" "$findings"
done
exit $status
