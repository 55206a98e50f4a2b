# Shared helpers for the benchmark scripts (sourced). Everything runs on loopback and is
# stopped by pid on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CONFIDANT_BIN:-$ROOT/build/confidant}"
EMU="${EMULATOR_BIN:-$ROOT/build/gemini-emulator}"
WORK="$(mktemp -d /tmp/confidant-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_confidant NAME [VAR=VALUE...]: starts `confidant serve` on a free port; sets PORT_<NAME>.
start_confidant() {
  local name="$1"; shift
  local out="$WORK/$name.out"
  env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$WORK/$name.db" \
    JWT_SECRET=bench-secret-0123456789abcdef-0123456789 PASSWORD_HASH_PROFILE=fast LOG_LEVEL=warn \
    REGISTRATIONS_PER_HOUR=0 "$@" \
    "$BIN" serve >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  eval "PID_$name=$!"
  for _ in $(seq 1 200); do
    if grep -q '^listening on' "$out" 2>/dev/null; then
      eval "PORT_$name=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)"
      return 0
    fi
    sleep 0.05
  done
  echo "confidant ($name) did not start: $(cat "$WORK/$name.err")" >&2
  exit 1
}

# start_emulator [flags...]: sets EMU_PORT.
start_emulator() {
  "$EMU" --port 0 "$@" >"$WORK/emu.out" 2>"$WORK/emu.err" &
  PIDS+=($!)
  EMU_PID=$!
  for _ in $(seq 1 200); do
    if grep -q '^listening on' "$WORK/emu.out" 2>/dev/null; then
      EMU_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/emu.out" | head -1)
      return 0
    fi
    sleep 0.05
  done
  echo "emulator did not start" >&2
  exit 1
}

# register PORT USERNAME → prints an access token
register() {
  local body
  body=$(curl -sf -X POST "http://127.0.0.1:$1/v1/auth/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$2\",\"password\":\"bench-password-1\"}")
  # The body has no trailing newline: print the token as a whole line.
  printf '%s\n' "$(printf '%s' "$body" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
}

# cpu_seconds PID → user+system CPU seconds the process has used so far
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# peak_rss_mb PID → VmHWM of the process in MiB
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# wrk_json CASE CONNECTIONS DURATION URL [wrk args...] → one JSON line
wrk_json() {
  local case="$1" conns="$2" dur="$3" url="$4"; shift 4
  local out
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency "$@" "$url" 2>&1)
  echo "$out" >"$WORK/wrk-$case-$conns.txt"
  python3 - "$case" "$conns" "$dur" <<PY
import re, sys, json
out = open("$WORK/wrk-$case-$conns.txt").read()
def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    n, u = float(m.group(1)), m.group(2)
    return round(n / 1000 if u == "us" else n if u == "ms" else n * 1000 if u == "s" else n * 60000, 3)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
errs = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
print(json.dumps({"bench": sys.argv[1], "connections": int(sys.argv[2]), "duration_s": int(sys.argv[3].rstrip("s")),
                  "requests_per_s": round(rps), "p50_ms": to_ms(lat["50"]), "p99_ms": to_ms(lat["99"]),
                  "non_2xx": int(errs.group(1)) if errs else 0,
                  "socket_errors": sum(map(int, sock.groups())) if sock else 0}))
PY
}
