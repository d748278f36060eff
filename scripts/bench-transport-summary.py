#!/usr/bin/env python3
"""Summary of a bench-transport report: the median of each measured figure per transport, and CURVE / plain TCP.

Reads the sections `## round R [mode]: svx-load <command> --clients N ...` and, in each, every `== <title>` block
with its `requests ... : X req/s` (or logins/s) and `latency us: p50 P ...` lines.
"""
import re
import statistics
import sys

section = None
block = None
runs = {}  # (section, block title) -> mode -> [(throughput, p50)]
order = []
for line in open(sys.argv[1]):
    m = re.match(r"## round \d+ \[(\w+)\]: svx-load (\S+)(?: \S+)* --clients (\d+)", line)
    if m:
        mode, command, clients = m.groups()
        section = (mode, f"{command}, {clients} client{'s' if clients != '1' else ''}")
        continue
    if line.startswith("## "):
        section, block = None, None
        continue
    m = re.match(r"== (.*)", line)
    if m and section:
        title = re.sub(r" @ tcp://\S+", "", m.group(1))
        title = re.sub(r"\d+ calls", "", title).strip(" ,")
        block = {"title": title, "throughput": None}
        continue
    m = re.match(r"\s+requests \d+ ok, \d+ errors in [\d.]+ s: ([\d.]+) (?:req|logins)/s", line)
    if m and block is not None and section:
        block["throughput"] = float(m.group(1))
        continue
    m = re.match(r"\s+latency us: p50 (\d+)", line)
    if m and block is not None and section and block["throughput"] is not None:
        key = (section[1], block["title"])
        if key not in runs:
            runs[key] = {}
            order.append(key)
        runs[key].setdefault(section[0], []).append((block["throughput"], float(m.group(1))))
        block = None

if not runs:
    sys.exit("no measurements in the report")
print("\n== medians per transport (CURVE / plain TCP); runs alternated")
print("| measurement | what | CURVE /s | plain /s | throughput ratio | CURVE p50 µs | plain p50 µs | p50 ratio | runs |")
print("|---|---|---|---|---|---|---|---|---|")
for key in order:
    curve, plain = runs[key].get("curve", []), runs[key].get("plaintext", [])
    if not curve or not plain:
        continue
    ct, pt = statistics.median(r[0] for r in curve), statistics.median(r[0] for r in plain)
    cp, pp = statistics.median(r[1] for r in curve), statistics.median(r[1] for r in plain)
    print(f"| {key[0]} | {key[1]} | {ct:.0f} | {pt:.0f} | {ct / pt:.2f} | {cp:.0f} | {pp:.0f} | {cp / pp:.2f} | {len(curve)}+{len(plain)} |")
