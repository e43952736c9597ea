#!/usr/bin/env bash
# Benchmark for the silent re-login (issue 16, goals 2–3): in one interleaved run against the
# emulator over TLS, a full sign-in (empty home: the window, IdP auto-login), a silent `login`
# (saved web session with the IdP session alive: no window), and a cold `finesse-sso token` (no
# agent running, the same saved session: it starts the agent, which signs in silently, and
# answers). Time from start to token printed and peak memory of the whole process tree (the
# agent counts while `token` waits for it: it is `token`'s child until then); medians.
# Usage: bash bench/silent.sh [RUNS]   (default 7)
# bench/all.sh sets BENCH_BIN (its release finesse-sso: no build here) and BENCH_OUT (a directory:
# silent.json, silent_mem.json and cold.json for its table, {"value", "floor", "unit"} each).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
ensure_rust
ensure_packages "${FINESSE_SSO_PACKAGES[@]}"
runs=${1:-7}
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN
else
    cargo build --release --locked --quiet --bins
    bin="$target/release/finesse-sso"
fi

work=$(mktemp -d)
mkdir -p "$work/cold"
cleanup() {
    # The agents the cold `token` runs started (one per home) are stopped only now, so stopping
    # them is never part of a measured run.
    for h in "$work"/cold/*/; do
        [ -d "$h" ] && FINESSE_SSO_HOME="$h" "$bin" agent stop >/dev/null 2>&1 || true
    done
    kill "${emu_pid:-}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
. bench/emulator.sh
start_emulator "$bin" "$work"
args="--server $finesse --user agent1 --ca-file $ca"
xvfb=(xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp -noreset")

# The saved session: one window sign-in, then only the IdP's session cookie kept, so every silent
# run walks the whole chain (Finesse → IdS authorize → SAML POST to the IdP → SAML POST back to
# IdS → Finesse's authcode → the token), not Finesse's or IdS's shortcut.
seed="$work/seed"
"${xvfb[@]}" env FINESSE_SSO_HOME="$seed" "$bin" login $args >/dev/null
template="$work/template"
mkdir -p -m 700 "$template/state" "$template/state/profiles" "$template/state/profiles/default"
python3 - "$seed/state/profiles/default/web-session.json" "$template/state/profiles/default/web-session.json" <<'EOF'
import json, os, sys
s = json.load(open(sys.argv[1]))
s["cookies"] = [c for c in s["cookies"] if c["name"] == "IDPSESSION"]
assert s["cookies"], "the window saved no IdP session cookie"
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, json.dumps(s).encode())
os.close(fd)
EOF

# Every run has a fresh home: empty for the full sign-in, a copy of the template for the others.
full="h=\$(mktemp -d); FINESSE_SSO_HOME=\$h $bin login $args; s=\$?; rm -rf \$h; exit \$s"
silent="h=\$(mktemp -d); cp -a $template/. \$h; FINESSE_SSO_HOME=\$h $bin login $args; s=\$?; rm -rf \$h; exit \$s"
cold="h=\$(mktemp -d -p $work/cold); cp -a $template/. \$h; FINESSE_SSO_HOME=\$h $bin token $args"
echo "finesse-sso $("$bin" --version | cut -d' ' -f2), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"${xvfb[@]}" python3 bench/measure.py --runs "$runs" --json "$work/measured.json" \
    "full sign-in (window)=$full" "silent login=$silent" "cold token (starts the agent)=$cold" |
    tee "$work/table.md"
# Goal 3 compares the cold token with the silent login, not with the full sign-in (from the
# medians at full precision: the table rounds to 10 ms).
python3 - "$work/measured.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
s, c = m["silent login"], m["cold token (starts the agent)"]
if s["seconds"] and c["seconds"] and s["pss_mib"] and c["pss_mib"]:
    print(f"\ncold token (starts the agent) vs silent login: {c['seconds'] * 1e3:.1f} ms vs "
          f"{s['seconds'] * 1e3:.1f} ms, {c['seconds'] / s['seconds']:.2f}× the time, "
          f"{c['pss_mib'] / s['pss_mib']:.2f}× the PSS")
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ -n "${BENCH_OUT:-}" ]; then
    python3 - "$work/measured.json" "$BENCH_OUT" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
full, silent = m["full sign-in (window)"], m["silent login"]
cold = m["cold token (starts the agent)"]
def put(name, value, floor, unit):
    # A failed command has no median: no file, so the table says "not measured".
    if value is not None and floor:
        with open(os.path.join(sys.argv[2], name + ".json"), "w") as f:
            json.dump({"value": value, "floor": floor, "unit": unit}, f)
put("silent", silent["seconds"], full["seconds"], "s")
put("silent_mem", silent["pss_mib"], full["pss_mib"], "MiB")
put("cold", cold["seconds"], silent["seconds"], "s")
EOF
fi
