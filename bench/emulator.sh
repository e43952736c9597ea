# Sourced by the benchmarks: `start_emulator BIN DIR` starts `BIN emulate --auto-login agent1` in
# the background (its ready line and log in DIR) and sets emu_pid, finesse (the Finesse URL) and
# ca (the CA file); it exits the script when the emulator does not come up within 10 s.
start_emulator() {
    local bin=$1 dir=$2
    "$bin" emulate --auto-login agent1 > "$dir/ready.json" 2> "$dir/emulator.log" &
    emu_pid=$!
    for _ in $(seq 200); do [ -s "$dir/ready.json" ] && break; sleep 0.05; done
    [ -s "$dir/ready.json" ] || { echo "the emulator did not start:" >&2; cat "$dir/emulator.log" >&2; exit 1; }
    read -r finesse ca < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["finesse_url"], r["ca_file"])' "$dir/ready.json")
}
