#!/usr/bin/env bash
# 2,000 concurrent chats for 15 s against the Gemini emulator answering after 1 s.
# Prints one JSON line: completed chats/s, p50/p99, errors, the server's peak RSS.
# Usage: bench/chat.sh [connections, default 2000] [duration, default 15s] [latency ms, default 1000]
source "$(dirname "$0")/lib.sh"
CONNS="${1:-2000}"
DUR="${2:-15s}"
LAT="${3:-1000}"
USERS=200
ulimit -n 65536 2>/dev/null || true
start_emulator --latency-ms "$LAT" --api-key bench-key --threads 1
start_confidant chat LLM_PROVIDER=gemini GEMINI_API_KEY=bench-key GEMINI_BASE_URL="http://127.0.0.1:$EMU_PORT" \
  FREE_MESSAGES_PER_DAY=10000000 CHAT_RATE_LIMIT_PER_MINUTE=10000000 LLM_ATTEMPT_TIMEOUT_MS=10000
TOKENS_FILE="$WORK/tokens.txt"
for i in $(seq 1 "$USERS"); do register "$PORT_chat" "chatter$i" >>"$TOKENS_FILE"; done
[ "$(wc -l <"$TOKENS_FILE")" -eq "$USERS" ] || { echo "registration failed" >&2; exit 1; }
export TOKENS_FILE
cpu0_server=$(cpu_seconds "$PID_chat"); cpu0_emu=$(cpu_seconds "$EMU_PID")
line=$(wrk_json chat "$CONNS" "$DUR" "http://127.0.0.1:$PORT_chat/v1/chat" -s "$ROOT/bench/chat.lua" --timeout 10s)
rss=$(peak_rss_mb "$PID_chat")
cpu_server=$(python3 -c "print(round($(cpu_seconds "$PID_chat") - $cpu0_server, 2))")
cpu_emu=$(python3 -c "print(round($(cpu_seconds "$EMU_PID") - $cpu0_emu, 2))")
python3 - "$line" "$rss" "$CONNS" "$LAT" "$cpu_server" "$cpu_emu" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
cpu_server, cpu_emu = float(sys.argv[5]), float(sys.argv[6])
conns, lat = int(sys.argv[3]), int(sys.argv[4])
ideal = conns / (lat / 1000)
print(json.dumps({"bench": "chat", "concurrency": conns, "llm_latency_ms": lat, "duration_s": d["duration_s"],
                  "chats_per_s": d["requests_per_s"], "ideal_chats_per_s": round(ideal),
                  "efficiency": round(d["requests_per_s"] / ideal, 3), "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"],
                  "errors": d["non_2xx"] + d["socket_errors"], "peak_rss_mb": float(sys.argv[2]),
                  "server_cpu_s": cpu_server, "emulator_cpu_s": cpu_emu,
                  "server_cpu_us_per_chat": round(cpu_server * 1e6 / max(1, d["requests_per_s"] * d["duration_s"]))}))
PY
