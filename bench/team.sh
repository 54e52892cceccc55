#!/usr/bin/env bash
# Team-index benchmark (issue 15 item 3): `list` (50 most recent) and `stats` (the whole
# year) over a generated bucket of N sessions from 20 agents over 365 days, on s3s-fs
# (127.0.0.1, started and stopped here) and on the embedded local store.
#
#   bash bench/team.sh [N...]        default sizes: 1000 10000 100000
#
# The bucket is written directly as files by bench/gen_team.py (s3s-fs stores one file per
# key, like the local store), index objects included, as 20 agents' flushes leave them.
# For each size and store: `stats --json` cold (no local copy of the index objects) and
# unchanged (second run: the local copy answers, the listing only checks it), `list
# --limit 50` cold, and for N <= SCAN_MAX (1000) `stats` without the index (every meta.json: what it
# cost before). Each timing is the best and the median of RUNS runs under /usr/bin/time
# (wall, user+sys CPU, peak RSS); request counts come from the binary (TRACECRAFT_REQUESTS).
# Output: a Markdown table on stdout and in $W/team.md.
#
# Environment: STORES ("local s3s-fs"), TRACECRAFT_BIN (binary to measure; default target/release/tracecraft-hook,
# built if missing), RUNS (default 3), KEEP=1 (keep the work directory).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
RUNS="${RUNS:-3}"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000)
BIN="${TRACECRAFT_BIN:-$ROOT/target/release/tracecraft-hook}"
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi
PY="$(command -v python3)"
command -v s3s-fs >/dev/null || { echo "s3s-fs not found: cargo install s3s-fs --version 0.14.1 --features binary --locked" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time not found: apt-get install -y time" >&2; exit 1; }

W="$(mktemp -d "${TMPDIR:-/tmp}/tracecraft-team.XXXXXX")"
S3S_PID=""
cleanup() {
  local rc=$?
  if [ -n "$S3S_PID" ]; then kill "$S3S_PID" 2>/dev/null || true; wait "$S3S_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME="$W/home"
mkdir -p "$HOME" "$W/s3"
unset TRACECRAFT_CONFIG TRACECRAFT_ENDPOINT TRACECRAFT_BUCKET TRACECRAFT_PROJECT TRACECRAFT_AGENT AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_PROFILE
AK=benchaccess
SK=benchsecret123456
PORT="$("$PY" "$BENCH/tool.py" free-port)"
ENDPOINT="http://127.0.0.1:$PORT"
s3s-fs --host 127.0.0.1 --port "$PORT" --access-key "$AK" --secret-key "$SK" "$W/s3" >"$W/s3s.log" 2>&1 &
S3S_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT/" && break; sleep 0.05; done

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
OUT="$W/team.md"
{
  echo "| sessions | store | command | wall best / median (s) | CPU user+sys (s) | peak RSS (MB) | requests |"
  echo "|---:|---|---|---|---|---:|---|"
} >"$OUT"

# measure LABEL N STORE PREPARE -- CMD...: RUNS runs; one table row.
measure() {
  local label="$1" n="$2" store="$3" prepare="$4"
  shift 5
  local walls=() cpu="" rss=0 req=""
  for _ in $(seq "$RUNS"); do
    eval "$prepare"
    TRACECRAFT_REQUESTS=1 /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" >"$W/out" 2>"$W/err" || {
      cat "$W/err" >&2
      return 1
    }
    read -r wall user sys maxkb <"$W/time"
    walls+=("$wall")
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')"
    [ "$maxkb" -gt "$rss" ] && rss="$maxkb"
    req="$(sed -n 's/^requests ([a-z]*): //p' "$W/err" | tail -n 1)"
  done
  local sorted best median
  sorted="$(printf '%s\n' "${walls[@]}" | sort -g)"
  best="$(head -n 1 <<<"$sorted")"
  median="$(sed -n "$(((${#walls[@]} + 1) / 2))p" <<<"$sorted")"
  printf '| %s | %s | %s | %s / %s | %s | %d | %s |\n' "$n" "$store" "$label" "$best" "$median" "$cpu" \
    "$((rss / 1024))" "$req" | tee -a "$OUT"
}

for n in "${SIZES[@]}"; do
  for store in ${STORES:-local s3s-fs}; do
    proj="$W/proj-$store-$n"
    mkdir -p "$proj"
    if [ "$store" = local ]; then
      bucket_dir="$W/local-$n"
      printf '{"backend":"local","path":"%s","project":"team","agent_id":"reader"}\n' "$bucket_dir" >"$proj/.tracecraft.json"
    else
      bucket_dir="$W/s3/team$n"
      printf '{"backend":"s3","endpoint":"%s","bucket":"team%s","project":"team","agent_id":"reader","access_key":"%s","secret_key":"%s"}\n' \
        "$ENDPOINT" "$n" "$AK" "$SK" >"$proj/.tracecraft.json"
    fi
    chmod 600 "$proj/.tracecraft.json"
    "$BIN" trust "$proj" >/dev/null
    mkdir -p "$bucket_dir"
    echo "generating $n sessions ($store): $("$PY" "$BENCH/gen_team.py" "$bucket_dir" team "$n" 20 365 1)" >&2
    # shellcheck disable=SC2016 # expanded later, by the shell that runs the setup step
    cold='rm -rf "$HOME/.tracecraft/cache"'
    measure "stats --json (year, cold)" "$n" "$store" "$cold" -- "$BIN" stats --json --cwd "$proj"
    measure "stats --json (year, unchanged)" "$n" "$store" ":" -- "$BIN" stats --json --cwd "$proj"
    measure "stats --by day --json" "$n" "$store" ":" -- "$BIN" stats --by day --json --cwd "$proj"
    measure "list --limit 50 (cold)" "$n" "$store" "$cold" -- "$BIN" list --limit 50 --json --cwd "$proj"
    measure "list --limit 50 (unchanged)" "$n" "$store" ":" -- "$BIN" list --limit 50 --json --cwd "$proj"
    if [ "$n" -le "${SCAN_MAX:-1000}" ]; then
      mv "$bucket_dir/team/@index" "$W/index-aside"
      RUNS=1 measure "stats --json without index (every meta.json)" "$n" "$store" ":" -- "$BIN" stats --json --cwd "$proj"
      mv "$W/index-aside" "$bucket_dir/team/@index"
    fi
    rm -rf "$bucket_dir" "$HOME/.tracecraft/cache"
  done
done
echo "load average: start $LOAD_START, end $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" | tee -a "$OUT"
