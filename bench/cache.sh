#!/usr/bin/env bash
# The cache benchmarks, one JSON line each:
#  (a) the local cache's hit rate against plain LRU on a Zipf(0.99) trace (1M requests, 100k keys, 10k entries);
#  (b) authenticated GET /v1/me with the cache on and off at 256 connections (wrk, 10 s each, side by side);
#  (c) local cache get/set throughput (Google Benchmark), ns per operation.
# Usage: bench/cache.sh [duration, default 10s]
source "$(dirname "$0")/lib.sh"
DUR="${1:-10s}"
"$ROOT/build/bench/cache_sim/cache_sim"

start_confidant on CACHE_ENABLED=true
start_confidant off CACHE_ENABLED=false
TOKEN_ON=$(register "$PORT_on" benchuser)
TOKEN_OFF=$(register "$PORT_off" benchuser)
on=$(wrk_json me_cache_on 256 "$DUR" "http://127.0.0.1:$PORT_on/v1/me" -H "Authorization: Bearer $TOKEN_ON")
off=$(wrk_json me_cache_off 256 "$DUR" "http://127.0.0.1:$PORT_off/v1/me" -H "Authorization: Bearer $TOKEN_OFF")
echo "$on"
echo "$off"
python3 - "$on" "$off" <<'PY'
import json, sys
on, off = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "me_cache_speedup", "connections": 256,
                  "throughput_ratio": round(on["requests_per_s"] / max(1, off["requests_per_s"]), 2),
                  "p99_ratio": round(off["p99_ms"] / max(0.001, on["p99_ms"]), 2)}))
PY

"$ROOT/build/bench/micro/bench_micro" --benchmark_filter=LocalCache --benchmark_format=json --benchmark_min_time=0.5 2>/dev/null | python3 -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration":
        continue
    ops = b.get("items_per_second")
    print(json.dumps({"bench": "local_cache_micro", "case": b["name"], "threads": b.get("threads", 1),
                      "ns_per_op": round(b["real_time"] if b.get("time_unit") == "ns" else b["cpu_time"], 1),
                      "ops_per_s": round(ops) if ops else None}))
'
