#!/usr/bin/env python3
"""The one table of bench/all.sh: every measured path of issue 16 against its goal.

Usage: table.py DIR   (DIR holds the JSON files the benchmarks wrote: login.json, pipe.json,
refresh.json, size.json; a missing file is a row saying "not measured", never a pass)

A ratio is the value over its floor measured in the same run; a goal without a floor (answers/s,
RSS, size) has the goal itself as the floor column's "–" and its ratio is value / goal.
"""
import json
import os
import sys

MIB = 1024 * 1024


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    d = sys.argv[1]
    rows = []  # (path, measure, value, floor, ratio, goal text, passed or None)

    def row(path, measure, value, floor, ratio, goal, passed):
        rows.append((path, measure, value, floor, ratio, goal, passed))

    def missing(path, measure, goal, why="not measured in this run"):
        row(path, measure, why, "–", "–", goal, None)

    login = load(d, "login")
    ours, bare = (login or {}).get("finesse-sso login"), (login or {}).get("bare wry window")
    if ours and bare and ours["seconds"] and bare["seconds"]:
        r = ours["seconds"] / bare["seconds"]
        row("1 sign-in", "login, spawn → exit (median)", f"{ours['seconds']:.2f} s",
            f"{bare['seconds']:.2f} s (bare wry window)", f"{r:.2f}×", "≤ 0.90×", r <= 0.90)
        r = ours["pss_mib"] / bare["pss_mib"]
        row("1 sign-in", "login, peak tree PSS (median)", f"{ours['pss_mib']:.0f} MiB",
            f"{bare['pss_mib']:.0f} MiB (bare wry window)", f"{r:.2f}×", "≤ 0.95×", r <= 0.95)
    else:
        missing("1 sign-in", "login, spawn → exit", "≤ 0.90×")
        missing("1 sign-in", "login, peak tree PSS", "≤ 0.95×")

    # Silent re-login (item 2) and cold token (item 3): bench/silent.sh writes silent.json,
    # silent_mem.json and cold.json with {"value": …, "floor": …, "unit": …}.
    for name, path, measure, goal, limit in (
        ("silent", "2 silent re-login", "time vs a full sign-in", "≤ 0.25×", 0.25),
        ("silent_mem", "2 silent re-login", "memory vs a full sign-in", "≤ 0.10×", 0.10),
        ("cold", "3 cold token", "time vs a silent login", "≤ 1.20×", 1.20),
    ):
        j = load(d, name)
        if j:
            r = j["value"] / j["floor"]
            row(path, measure, f"{j['value']:.3g} {j['unit']}", f"{j['floor']:.3g} {j['unit']}",
                f"{r:.2f}×", goal, r <= limit)
        else:
            missing(path, measure, goal, "not measured (bench/silent.sh absent or failed)")

    pipe = load(d, "pipe")
    if pipe:
        for x in pipe["rows"]:
            if x["server"] != "agent":
                continue
            r = x["p50_us"] / x["floor_p50_us"]
            row("4 pipe", f"cached token p50, {x['clients']} client(s) (p99 {x['p99_us']:.0f} µs)",
                f"{x['p50_us']:.1f} µs", f"{x['floor_p50_us']:.1f} µs (echo)", f"{r:.2f}×",
                "≤ 2.00×", r <= 2.0)
        for x in pipe["rows"]:
            if x["server"] == "agent" and x["clients"] == 16:
                v = x["answers_per_s"]
                echo = next(e for e in pipe["rows"] if e["server"] == "echo" and e["clients"] == 16)
                row("4 pipe", "answers/s, 16 clients", f"{v:,.0f}/s",
                    f"{echo['answers_per_s']:,.0f}/s (echo)", f"{v / 50000:.2f}× goal",
                    "≥ 50,000/s", v >= 50000)
        rss = pipe["rss_kib"]["idle_signed_in"] / 1024
        row("6 memory", "agent idle RSS, signed in", f"{rss:.1f} MiB", "–",
            f"{rss / 15:.2f}× goal", "< 15 MiB", rss < 15)
        rss = pipe["rss_kib"]["after_crowd"] / 1024
        row("6 memory", "agent RSS after 256 clients left", f"{rss:.1f} MiB", "–",
            f"{rss / 15:.2f}× goal", "< 15 MiB", rss < 15)
    else:
        missing("4 pipe", "cached token p50 vs echo", "≤ 2.00×")
        missing("6 memory", "agent idle RSS", "< 15 MiB")

    refresh = load(d, "refresh")
    if refresh:
        r = refresh["agent_ms"] / refresh["curl_ms"]
        row("5 refresh", "agent refresh round trip (median)", f"{refresh['agent_ms']:.2f} ms",
            f"{refresh['curl_ms']:.2f} ms (curl POST)", f"{r:.2f}×", "≤ 1.50×", r <= 1.5)
    else:
        missing("5 refresh", "agent refresh vs curl", "≤ 1.50×")

    size = load(d, "size") or {}
    for exe, limit in (("finesse-sso", 8), ("finesse-sso-webview", 4)):
        s = size.get(exe)
        if s:
            v = s["bytes"] / MIB
            stale = " (stale build)" if s["stale"] else ""
            row("6 size", f"{exe}, dist, stripped{stale}", f"{s['bytes']:,} B ({v:.2f} MiB)", "–",
                f"{v / limit:.2f}× goal", f"< {limit} MiB", v < limit)
        else:
            missing("6 size", f"{exe}, dist", f"< {limit} MiB", "no dist build")

    print("| path | measure | value | floor | ratio | goal | verdict |")
    print("|---|---|---:|---:|---:|---|---|")
    for path, measure, value, floor, ratio, goal, passed in rows:
        verdict = "–" if passed is None else ("pass" if passed else "**miss**")
        print(f"| {path} | {measure} | {value} | {floor} | {ratio} | {goal} | {verdict} |")
    try:
        with open(os.path.join(d, "builds")) as f:
            print("\nbuilds: " + "; ".join(l.strip() for l in f if l.strip()))
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        print("load average at the end: " + " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
