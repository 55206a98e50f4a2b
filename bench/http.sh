#!/usr/bin/env bash
# GET /healthz and an authenticated GET /v1/me at 64 and 256 connections, 10 s each (wrk).
# Prints one JSON line per case. Usage: bench/http.sh [duration, default 10s]
source "$(dirname "$0")/lib.sh"
DUR="${1:-10s}"
start_confidant main
TOKEN=$(register "$PORT_main" benchuser)
[ -n "$TOKEN" ] || { echo "registration failed" >&2; exit 1; }
for c in 64 256; do
  wrk_json healthz "$c" "$DUR" "http://127.0.0.1:$PORT_main/healthz"
  wrk_json me "$c" "$DUR" "http://127.0.0.1:$PORT_main/v1/me" -H "Authorization: Bearer $TOKEN"
done
