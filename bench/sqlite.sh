#!/usr/bin/env bash
# A chat turn's SQLite read (today's count + the recent messages, the store's own statements on
# the real schema, 40,000 messages), right after a write or with no write, with mmap on and
# off, on a reading connection or on the writing connection. One JSON line per case.
# Usage: bench/sqlite.sh [repetitions, default 3]
source "$(dirname "$0")/lib.sh"
REPS="${1:-3}"
"$ROOT/build/bench/micro/bench_micro" --benchmark_filter=Sqlite --benchmark_format=json \
  --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true 2>/dev/null | python3 -c '
import json, re, sys
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    args = dict(re.findall(r"(\w+):(\d+)", b["run_name"]))
    print(json.dumps({"bench": "sqlite_turn_read", "mmap_mib": int(args["mmap_mib"]),
                      "writes_before_read": int(args["writes"]), "on_writer": bool(int(args["on_writer"])),
                      "us_per_read": round(b["cpu_time"], 1), "repetitions": '"$REPS"'}))
'
