#!/usr/bin/env bash
# desktop sign-in with a running agent vs. the floor: a bare `curl -X PUT` + GET (one curl
# process, one TLS connection, `--next`) to the same emulator, interleaved, medians of N.
# Usage: xvfb-run -a bash bench/desktop.sh [N] [finesse-sso binary]   (needs a display: the
# agent's one sign-in uses the real window with the emulator's IdP auto-login)
set -euo pipefail
N="${1:-21}"
BIN="${2:-target/release/finesse-sso}"
home="$(mktemp -d)"; trap 'FINESSE_SSO_HOME="$home" "$BIN" agent stop >/dev/null 2>&1 || true; kill "$emu" 2>/dev/null || true; rm -rf "$home"' EXIT
export FINESSE_SSO_HOME="$home"
"$BIN" emulate --auto-login agent1 > "$home/ready" 2>/dev/null & emu=$!
for _ in $(seq 200); do [ -s "$home/ready" ] && break; sleep 0.05; done
read -r url ca < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["finesse_url"].rstrip("/"), r["ca_file"])' "$home/ready")
S=(--server "$url" --user agent1 --ca-file "$ca")
"$BIN" agent start "${S[@]}" 2>/dev/null
token="$("$BIN" token "${S[@]}" --format token)"
"$BIN" desktop sign-in "${S[@]}" --extension 1001001 >/dev/null 2>&1   # warm: maps agent1 → 1001
body='<User><state>LOGIN</state><extension>1001001</extension></User>'
cfg="$home/curl.cfg"; printf 'header = "Authorization: Bearer %s"\n' "$token" > "$cfg"; chmod 600 "$cfg"
python3 - "$N" "$BIN" "$url" "$ca" "$cfg" "$body" <<'PY'
import statistics, subprocess, sys, time
n, bin_, url, ca, cfg, body = int(sys.argv[1]), *sys.argv[2:]
cmds = {
    "finesse-sso desktop sign-in (agent running)": [bin_, "desktop", "sign-in", "--server", url, "--user", "agent1", "--ca-file", ca, "--extension", "1001001"],
    "curl -X PUT + GET (floor)": ["curl", "-sSf", "--cacert", ca, "-K", cfg, "-X", "PUT", "-H", "Content-Type: application/xml", "--data", body, f"{url}/finesse/api/User/1001",
                                  "--next", "--cacert", ca, "-K", cfg, "-sSf", f"{url}/finesse/api/User/1001"],
}
times = {k: [] for k in cmds}
for _ in range(n):
    for k, c in cmds.items():
        t = time.perf_counter()
        r = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        assert r.returncode == 0 and b"NOT_READY" in r.stdout, (k, r.returncode, r.stdout[:200])
        times[k].append(dt * 1000)
floor = statistics.median(times["curl -X PUT + GET (floor)"])
print("| command | runs | median ms [min–max] | ratio to floor |\n|---|---:|---:|---:|")
for k, v in times.items():
    m = statistics.median(v)
    print(f"| {k} | {len(v)} | {m:.1f} [{min(v):.1f}–{max(v):.1f}] | {m / floor:.2f}× |")
PY
