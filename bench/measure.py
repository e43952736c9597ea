#!/usr/bin/env python3
"""Time and peak memory of whole process trees, for commands run interleaved.

Usage: measure.py --runs N [--json FILE] NAME=COMMAND [NAME=COMMAND ...]

Each run starts COMMAND (via sh) in a new session, samples that session and every descendant
process every 20 ms, every 5 ms for the first 100 ms (PSS and RSS from /proc/PID/smaps_rollup, so WebKit's and Chromium's helper processes
count), and records the wall time to exit (timed by a thread waiting for it). A run counts only if it exits 0 and prints JSON
with a "token" field on stdout. Commands are interleaved (A B A B ...) so machine noise hits
each alike. Prints a Markdown table of medians with [min-max].
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def tree_pids(root):
    """The session of `root` plus every descendant by parent PID: playwright starts Chromium
    detached (its own session), WebKit's helpers stay in ours; this counts both."""
    parent, session = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            # Fields after the parenthesised command: state ppid pgrp session ...
            fields = stat.rsplit(")", 1)[1].split()
            parent[int(d)], session[int(d)] = int(fields[1]), int(fields[3])
        except (OSError, ValueError, IndexError):
            pass
    pids = {p for p, s in session.items() if s == root} | {root}
    grew = True
    while grew:
        new = {p for p, pp in parent.items() if pp in pids and p not in pids}
        pids |= new
        grew = bool(new)
    return [p for p in pids if p in parent]


def mem_kib(pid):
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


RUN_LIMIT_S = 60


def run_once(cmd):
    start = time.monotonic()
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    # The exit is timed by a thread waiting for it, not by the sampling loop's period.
    ended, end = threading.Event(), [None]

    def wait():
        p.wait()
        end[0] = time.monotonic()
        ended.set()

    threading.Thread(target=wait, daemon=True).start()
    peak_pss = peak_rss = 0
    while not ended.is_set():
        if time.monotonic() - start > RUN_LIMIT_S:
            # A hung run (a page that never loads) fails instead of stopping the whole benchmark.
            os.killpg(p.pid, 9)
            ended.wait()
            break
        pss = rss = 0
        for pid in tree_pids(p.pid):
            a, b = mem_kib(pid)
            pss += a
            rss += b
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        # 5 ms apart for the first 100 ms (a silent sign-in is over in 20–50 ms: a 20 ms
        # period could miss it whole), 20 ms after.
        ended.wait(0.005 if time.monotonic() - start < 0.1 else 0.02)
    elapsed = end[0] - start
    out = p.stdout.read()
    ok = p.returncode == 0
    try:
        ok = ok and "token" in json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        ok = False
    return ok, elapsed, peak_pss / 1024, peak_rss / 1024


def main():
    args = sys.argv[1:]
    runs, json_out = 5, None
    if args[:1] == ["--runs"]:
        runs, args = int(args[1]), args[2:]
    if args[:1] == ["--json"]:
        json_out, args = args[1], args[2:]
    cmds = [a.split("=", 1) for a in args]
    results = {name: [] for name, _ in cmds}
    failures = {name: 0 for name, _ in cmds}
    for i in range(runs):
        for name, cmd in cmds:
            ok, t, pss, rss = run_once(cmd)
            if ok:
                results[name].append((t, pss, rss))
            else:
                failures[name] += 1
            print(f"run {i + 1} {name}: ok={ok} {t:.2f}s pss={pss:.0f}MiB rss={rss:.0f}MiB", file=sys.stderr)

    def cell(vals, fmt):
        return f"{fmt.format(statistics.median(vals))} [{fmt.format(min(vals))}–{fmt.format(max(vals))}]"

    print("| command | runs ok | spawn → exit, s | peak tree PSS, MiB | peak tree RSS, MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, _ in cmds:
        r = results[name]
        if not r:
            print(f"| {name} | 0/{runs} | – | – | – |")
            continue
        print(f"| {name} | {len(r)}/{runs} | {cell([x[0] for x in r], '{:.2f}')} | "
              f"{cell([x[1] for x in r], '{:.0f}')} | {cell([x[2] for x in r], '{:.0f}')} |")
    base = results[cmds[0][0]]
    for name, _ in cmds[1:]:
        r = results[name]
        if base and r:
            tr = statistics.median([x[0] for x in r]) / statistics.median([x[0] for x in base])
            bm = statistics.median([x[1] for x in base])
            mr = f"{statistics.median([x[1] for x in r]) / bm:.2f}×" if bm else "– (no sample)"
            print(f"\n{name} vs {cmds[0][0]}: {tr:.2f}× the time, {mr} the PSS")
    if json_out:
        med = lambda r, i: statistics.median([x[i] for x in r]) if r else None
        with open(json_out, "w") as f:
            json.dump({name: {"ok": len(results[name]), "runs": runs, "seconds": med(results[name], 0),
                              "pss_mib": med(results[name], 1), "rss_mib": med(results[name], 2)}
                       for name, _ in cmds}, f)
    sys.exit(1 if any(failures.values()) else 0)


if __name__ == "__main__":
    main()
