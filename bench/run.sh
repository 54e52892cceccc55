#!/usr/bin/env bash
# Whole-process benchmarks of tracecraft-hook against a real S3 server (s3s-fs on
# 127.0.0.1, started and stopped here) and the embedded local store, side by side with the
# Python `tracecraft` CLI (tracecraft-ai) and with the physical floor (a raw PUT / cp of the
# same bytes). Also runs the in-process benches (benches/*.rs). See bench/README.md.
#
#   bash bench/run.sh           full run (~10 min on 2 cores), writes bench/results/latest.{md,json}
#   bash bench/run.sh --quick   smoke run: every benchmark once, tiny sizes, debug build,
#                               no timing assertions; writes nothing into the repository
#   --keep                      keep the work directory (printed) for inspection
#   --only LIST                 only these sections (comma-separated: bin,hook,big,html,huge,list,search,inproc);
#                               the report then goes to the work directory, not bench/results
#
# Environment: TRACECRAFT_BIN (use this binary instead of building), CARGO_TARGET_DIR.
set -euo pipefail

QUICK=0
KEEP=0
ONLY=""
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case "$arg" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --only)
      [ $# -gt 0 ] || { echo "--only needs a list" >&2; exit 2; }
      ONLY=",$1,"
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "$0"
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
REAL_HOME="$HOME"
export PATH="${CARGO_HOME:-$REAL_HOME/.cargo}/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
# Sizes and repetitions
# ---------------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
  NOOP_RUNS=2 DELTA_RUNS=2 BIG_RUNS=2 PY_RUNS=2 SHOW_RUNS=2 COMPACT_RUNS=2 LIST_RUNS=2 WARMUP=0
  DELTAS="1K 64K" BIG=1M HUGE=20M SESSIONS=20 BASE=64K
  SEARCH_SESSIONS=4 SEARCH_EACH=256K SEARCH_RUNS=2
else
  NOOP_RUNS=100 DELTA_RUNS=20 BIG_RUNS=10 PY_RUNS=5 SHOW_RUNS=10 COMPACT_RUNS=3 LIST_RUNS=10 WARMUP=3
  DELTAS="1K 64K 1M" BIG=50M HUGE=700M SESSIONS=1000 BASE=1M
  # search: 50 sessions x 4 MiB = 200 MiB (the issue's 1 GB: SEARCH_SESSIONS=250 in the env).
  SEARCH_SESSIONS="${SEARCH_SESSIONS:-50}" SEARCH_EACH="${SEARCH_EACH:-4M}" SEARCH_RUNS=3
fi

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
say "tools"
apt_install() { # PACKAGE: install a Debian package when we are root and apt exists
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$1" >/dev/null; }
  fi
}
[ -x /usr/bin/time ] || apt_install time
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v hyperfine >/dev/null || apt_install hyperfine
command -v curl >/dev/null || apt_install curl
command -v rg >/dev/null || apt_install ripgrep || echo "ripgrep missing: the search floor row will say n/a" >&2
for t in hyperfine s3s-fs curl python3 cargo; do
  command -v "$t" >/dev/null || die "$t is missing (hyperfine: apt-get install hyperfine; s3s-fs: cargo install s3s-fs --features binary)"
done
# The real interpreter and the real tracecraft script: pyenv shims need the real HOME,
# which the benchmarks replace, and cost tens of milliseconds per call.
PY="$(python3 -c 'import sys; print(sys.executable)')"
TC_PY=""
if "$PY" -c 'import tracecraft.cli' 2>/dev/null; then
  if [ -x "$(dirname "$PY")/tracecraft" ]; then TC_PY="$(dirname "$PY")/tracecraft"; else TC_PY="$(command -v tracecraft || true)"; fi
fi
TC_PY_VERSION="not installed"
[ -n "$TC_PY" ] && TC_PY_VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("tracecraft-ai"))' 2>/dev/null || echo '?')"
echo "python: $PY; tracecraft-ai: ${TC_PY:-none} ($TC_PY_VERSION)" >&2

# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${TRACECRAFT_BIN:-}" ]; then
  BIN="$TRACECRAFT_BIN"
  PROFILE="given"
elif [ "$QUICK" = 1 ]; then
  say "build (debug: the smoke run checks that everything runs, not how fast)"
  (cd "$ROOT" && cargo build --quiet)
  BIN="$TARGET/debug/tracecraft-hook"
  PROFILE="debug"
else
  say "build (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  BIN="$TARGET/release/tracecraft-hook"
  PROFILE="release"
fi
[ -x "$BIN" ] || die "no binary at $BIN"

# ---------------------------------------------------------------------------------------
# Work directory, isolated HOME, s3s-fs
# ---------------------------------------------------------------------------------------
W="$(mktemp -d "${TMPDIR:-/tmp}/tracecraft-bench.XXXXXX")"
S3S_PID=""
cleanup() {
  local rc=$?
  if [ -n "$S3S_PID" ]; then
    kill "$S3S_PID" 2>/dev/null || true
    wait "$S3S_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then
    echo "work directory kept: $W" >&2
  else
    rm -rf "$W"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$W/home" "$W/hf" "$W/probe" "$W/payload" "$W/s3" "$W/snap" "$W/cp"
RESULTS="$W/results.jsonl"
: >"$RESULTS"

# Everything below runs with a private HOME: ~/.tracecraft, ~/.claude and tracecraft-ai's
# state all live in the work directory; nothing of the user's is read or touched.
export HOME="$W/home"
unset TRACECRAFT_CONFIG TRACECRAFT_ENDPOINT TRACECRAFT_BUCKET TRACECRAFT_PROJECT TRACECRAFT_AGENT \
  TRACECRAFT_REDACT TRACECRAFT_HOOK_INLINE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_REGION AWS_PROFILE CLAUDE_CONFIG_DIR
export PYTHONDONTWRITEBYTECODE=1

AK=benchaccess
SK=benchsecret123456
PORT="$("$PY" "$BENCH/tool.py" free-port)"
ENDPOINT="http://127.0.0.1:$PORT"
S3ROOT="$W/s3/root"
mkdir -p "$S3ROOT/bench" "$S3ROOT/big" "$S3ROOT/many"
S3LOG="$W/s3/s3s.log"
say "s3s-fs on $ENDPOINT"
RUST_LOG=s3s=debug s3s-fs --host 127.0.0.1 --port "$PORT" --access-key "$AK" --secret-key "$SK" "$S3ROOT" \
  >"$S3LOG" 2>&1 &
S3S_PID=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "$ENDPOINT/" && break
  sleep 0.05
done
curl -s -o /dev/null "$ENDPOINT/" || die "s3s-fs did not start (log: $S3LOG)"

# Project directories, each with its .tracecraft.json (tracecraft-ai reads the one in
# its current directory; tracecraft-hook the one in the payload's cwd / --cwd).
s3_project() { # DIR BUCKET
  mkdir -p "$1"
  printf '{"backend":"s3","endpoint":"%s","bucket":"%s","project":"bench","agent_id":"bench","access_key":"%s","secret_key":"%s"}\n' \
    "$ENDPOINT" "$2" "$AK" "$SK" >"$1/.tracecraft.json"
  chmod 600 "$1/.tracecraft.json"
  "$BIN" trust "$1" >/dev/null # project configs are honoured once approved
}
local_project() { # DIR STORE
  mkdir -p "$1"
  printf '{"backend":"local","path":"%s","project":"bench","agent_id":"bench"}\n' "$2" >"$1/.tracecraft.json"
  chmod 600 "$1/.tracecraft.json"
  "$BIN" trust "$1" >/dev/null
}
P_S3="$W/p/s3"
P_BIG="$W/p/big"
P_MANY="$W/p/many"
P_LOC="$W/p/local"
P_LBIG="$W/p/local-big"
P_LMANY="$W/p/local-many"
s3_project "$P_S3" bench
s3_project "$P_BIG" big
s3_project "$P_MANY" many
local_project "$P_LOC" "$W/local/small"
local_project "$P_LBIG" "$W/local/big"
local_project "$P_LMANY" "$W/local/many"

slug() { printf '%s' "${1//[^A-Za-z0-9]/-}"; }
transcript_of() { printf '%s/.claude/projects/%s/%s.jsonl' "$HOME" "$(slug "$1")" "$2"; } # PROJECT ID
# The state file of session $1: its name is the id with each capital written ^ + lower case
# (session::state::file_stem), so ids differing only in case never share a file.
state_of() { printf '%s/.tracecraft/state/%s.json' "$HOME" "$(printf '%s' "$1" | sed 's/[A-Z]/^\L&/g')"; }
gen() { "$PY" "$BENCH/gen_transcript.py" "$@"; }
LAST_TEXT="$("$PY" -c "import sys; sys.path.insert(0, '$BENCH'); import gen_transcript as g; print(g.LAST_TEXT)")"

payload() { # FILE EVENT PROJECT ID [last_assistant_message]
  local extra=""
  [ -n "${5:-}" ] && extra=",\"last_assistant_message\":\"$5\""
  printf '{"hook_event_name":"%s","session_id":"%s","transcript_path":"%s","cwd":"%s","prompt":"go"%s}\n' \
    "$2" "$4" "$(transcript_of "$3" "$4")" "$3" "$extra" >"$1"
}

# Deltas and the big delta, generated once and appended with cat.
mkdir -p "$W/data"
for d in $DELTAS; do gen "$W/data/delta-$d" "$d" --seed 11 --secret-every 100; done
gen "$W/data/big" "$BIG" --seed 12 --secret-every 100
# Issue 15's slow shape: multi-line Unicode tool outputs (~40,000 lines in 50 MiB).
gen "$W/data/big-uni" "$BIG" --seed 13 --secret-every 100 --unicode

# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------
loglines() { wc -l <"$S3LOG"; }

# hf ID RUNS WARMUP PREPARE CMD: hyperfine timing runs (PREPARE before each, not timed).
hf() {
  local id=$1 runs=$2 warm=$3 prep=$4 cmd=$5
  local args=(--style basic --runs "$runs" --warmup "$warm" --export-json "$W/hf/$id.json")
  [ "$QUICK" = 1 ] && args=(--style none --runs "$runs" --warmup 0 --export-json "$W/hf/$id.json")
  [ -n "$prep" ] && args+=(--prepare "$prep")
  hyperfine "${args[@]}" "$cmd" >&2
}

# probe ID PREPARE CMD [WAIT]: one more run under /usr/bin/time (wall, peak RSS), counting the
# requests s3s-fs receives; WAIT (a shell command) runs before the count (detached workers).
PROBE_FROM=0
PROBE_TO=0
probe() {
  local id=$1 prep=$2 cmd=$3 wait_cmd=${4:-}
  [ -n "$prep" ] && bash -c "$prep"
  PROBE_FROM="$(loglines)"
  /usr/bin/time -f "%e %M" -o "$W/probe/$id" bash -c "$cmd" >/dev/null 2>"$W/probe/$id.err" ||
    echo "probe $id failed: $(tail -3 "$W/probe/$id.err")" >&2
  [ -n "$wait_cmd" ] && bash -c "$wait_cmd"
  sleep 0.05
  PROBE_TO="$(loglines)"
}

# row ID GROUP TOOL LABEL [KEY=VALUE...]: record a row from hf/probe files and the log span.
row() {
  local id=$1 group=$2 tool=$3 label=$4
  shift 4
  local reqs=()
  [ "$group" = s3 ] && reqs=("log=$S3LOG" "from=$PROBE_FROM" "to=$PROBE_TO")
  "$PY" "$BENCH/tool.py" record "$RESULTS" "id=$id" "group=$group" "tool=$tool" "label=$label" \
    "hf=$W/hf/$id.json" "probe=$W/probe/$id" "${reqs[@]}" "$@"
}
na() { # ID GROUP TOOL LABEL WHY
  "$PY" "$BENCH/tool.py" record "$RESULTS" "id=$1" "group=$2" "tool=$3" "label=$4" "na=$5"
}

# measure ID GROUP TOOL LABEL RUNS WARMUP PREPARE CMD [WAIT]
measure() {
  local id=$1 group=$2 tool=$3 label=$4 runs=$5 warm=$6 prep=$7 cmd=$8 wait_cmd=${9:-}
  say "$label ($tool, $group)"
  if [ "$runs" -gt 0 ]; then
    hf "$id" "$runs" "$warm" "$prep" "$cmd"
    [ -n "$wait_cmd" ] && bash -c "$wait_cmd"
  fi
  probe "$id" "$prep" "$cmd" "$wait_cmd"
  row "$id" "$group" "$tool" "$label"
}

has_cmd() { "$BIN" "$1" --help >/dev/null 2>&1; }
section() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }

# ---------------------------------------------------------------------------------------
# 1. The binary
# ---------------------------------------------------------------------------------------
section_bin() {
  measure bin.true - - "process start floor (/bin/true)" "$NOOP_RUNS" "$WARMUP" "" "/bin/true"
  measure bin.version - tracecraft-hook "start-up (--version)" "$NOOP_RUNS" "$WARMUP" "" "$BIN --version"
}

# ---------------------------------------------------------------------------------------
# 2. Hook: nothing new, deltas (detached return and inline full upload)
# ---------------------------------------------------------------------------------------
hook_rows() { # GROUP PROJECT
  local g=$1 p=$2 id t pl wait_cmd prep
  id="$g-noop"
  t="$(transcript_of "$p" "$id")"
  gen "$t" "$BASE" --seed 3 --secret-every 100
  payload "$W/payload/$id" UserPromptSubmit "$p" "$id"
  payload "$W/payload/$id.stop" Stop "$p" "$id" "$LAST_TEXT"
  TRACECRAFT_HOOK_INLINE=1 "$BIN" hook <"$W/payload/$id"
  [ -f "$(state_of "$id")" ] || die "the first flush of $id did not happen (see $HOME/.tracecraft/hook.log)"
  measure "$g.noop" "$g" tracecraft-hook "hook, nothing new (UserPromptSubmit)" "$NOOP_RUNS" "$WARMUP" "" \
    "$BIN hook < $W/payload/$id"
  measure "$g.noop.stop" "$g" tracecraft-hook "hook, nothing new (Stop: last message checked in the tail)" \
    "$NOOP_RUNS" "$WARMUP" "" "$BIN hook < $W/payload/$id.stop"

  for d in $DELTAS; do
    id="$g-delta-$d"
    t="$(transcript_of "$p" "$id")"
    pl="$W/payload/$id"
    gen "$t" "$BASE" --seed 4
    payload "$pl" UserPromptSubmit "$p" "$id"
    TRACECRAFT_HOOK_INLINE=1 "$BIN" hook <"$pl"
    wait_cmd="'$PY' '$BENCH/tool.py' wait-idle '$(state_of "$id")' '$t'"
    prep="$wait_cmd && cat '$W/data/delta-$d' >> '$t'"
    measure "$g.delta.$d.return" "$g" tracecraft-hook "hook, $d delta: returns (upload detached)" \
      "$DELTA_RUNS" "$WARMUP" "$prep" "$BIN hook < $pl" "$wait_cmd"
    measure "$g.delta.$d.inline" "$g" tracecraft-hook "hook, $d delta: full upload (TRACECRAFT_HOOK_INLINE=1)" \
      "$DELTA_RUNS" "$WARMUP" "$prep" "TRACECRAFT_HOOK_INLINE=1 $BIN hook < $pl"
  done
}

py_rows() {
  local id t
  if [ -z "$TC_PY" ]; then
    na py.noop py tracecraft-ai "tracecraft session mirror, nothing new" "n/a (tracecraft-ai not installed)"
    return
  fi
  id="py-noop"
  t="$(transcript_of "$P_S3" "$id")"
  gen "$t" "$BASE" --seed 3 --secret-every 100
  (cd "$P_S3" && "$TC_PY" session mirror --session-id "$id" --cwd "$P_S3" >/dev/null)
  measure py.noop s3 tracecraft-ai "tracecraft session mirror, nothing new" "$PY_RUNS" 1 "" \
    "cd $P_S3 && $TC_PY session mirror --session-id $id --cwd $P_S3"
  local last="${DELTAS##* }"
  id="py-delta"
  t="$(transcript_of "$P_S3" "$id")"
  gen "$t" "$BASE" --seed 4
  (cd "$P_S3" && "$TC_PY" session mirror --session-id "$id" --cwd "$P_S3" >/dev/null)
  measure "py.delta.$last" s3 tracecraft-ai "tracecraft session mirror, $last delta" "$PY_RUNS" 0 \
    "cat '$W/data/delta-$last' >> '$t'" "cd $P_S3 && $TC_PY session mirror --session-id $id --cwd $P_S3"
}

section_hook() {
  say "hook rows: S3"
  hook_rows s3 "$P_S3"
  py_rows
  say "hook rows: local store"
  hook_rows local "$P_LOC"
}

# ---------------------------------------------------------------------------------------
# 3. A big delta: flush vs raw PUT / cp of the same bytes vs tracecraft-ai
# ---------------------------------------------------------------------------------------
big_rows() { # GROUP PROJECT [DATA ROW LABEL]
  local g=$1 p=$2 data=${3:-$W/data/big} row=${4:-$1.big} label=${5:-"flush, $BIG delta"} id t
  id="${row//./-}"
  t="$(transcript_of "$p" "$id")"
  gen "$t" 64K --seed 5
  "$BIN" flush --session-id "$id" --cwd "$p" >/dev/null
  measure "$row" "$g" tracecraft-hook "$label" "$BIG_RUNS" 0 "cat '$data' >> '$t'" \
    "$BIN flush --session-id $id --cwd $p"
}
# The same big delta to a project with client-side encryption (age; target <= 1.2x s3.big).
big_age_rows() {
  local id=s3-big-age p="$W/p/s3-age" r t
  r="$("$BIN" keygen -o "$W/age.key" | sed -n 's/^recipient: //p')"
  mkdir -p "$p"
  printf '{"backend":"s3","endpoint":"%s","bucket":"bench","project":"bench-age","agent_id":"bench","access_key":"%s","secret_key":"%s","encrypt":{"recipients":["%s"],"identity":"%s"}}\n' \
    "$ENDPOINT" "$AK" "$SK" "$r" "$W/age.key" >"$p/.tracecraft.json"
  chmod 600 "$p/.tracecraft.json"
  "$BIN" trust "$p" >/dev/null
  t="$(transcript_of "$p" "$id")"
  gen "$t" 64K --seed 5
  "$BIN" flush --session-id "$id" --cwd "$p" >/dev/null
  measure s3.big.age s3 tracecraft-hook "flush, $BIG delta, encrypted (age)" "$BIG_RUNS" 0 "cat '$W/data/big' >> '$t'" \
    "$BIN flush --session-id $id --cwd $p"
}
section_big() {
  local t curl_put
  big_rows s3 "$P_S3"
  curl_put="curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user $AK:$SK -H x-amz-content-sha256:UNSIGNED-PAYLOAD -o /dev/null"
  measure s3.big.raw s3 curl "raw PUT of the same $BIG (physical floor)" "$BIG_RUNS" 1 "" \
    "$curl_put -T $W/data/big $ENDPOINT/bench/raw/big.jsonl"
  # The same bytes in 8 MiB pieces, one curl (one connection): what splitting costs the server.
  local pieces=()
  split -b 8M -d "$W/data/big" "$W/data/big.piece."
  for f in "$W/data/big.piece."*; do pieces+=(-T "$f" "$ENDPOINT/bench/raw/${f##*/}"); done
  measure s3.big.raw8 s3 curl "raw PUTs of the same $BIG in 8 MiB pieces" "$BIG_RUNS" 1 "" "$curl_put ${pieces[*]}"
  big_rows s3 "$P_S3" "$W/data/big-uni" s3.bigu "flush, $BIG delta of multi-line Unicode tool outputs"
  measure s3.bigu.raw s3 curl "raw PUT of the same $BIG Unicode delta (physical floor)" "$BIG_RUNS" 1 "" \
    "$curl_put -T $W/data/big-uni $ENDPOINT/bench/raw/big-uni.jsonl"
  if [ -n "$TC_PY" ]; then
    t="$(transcript_of "$P_S3" py-big)"
    gen "$t" 64K --seed 5
    (cd "$P_S3" && "$TC_PY" session mirror --session-id py-big --cwd "$P_S3" >/dev/null)
    measure s3.big.py s3 tracecraft-ai "tracecraft session mirror, $BIG delta" "$((BIG_RUNS > 3 ? 3 : BIG_RUNS))" 0 \
      "cat '$W/data/big' >> '$t'" "cd $P_S3 && $TC_PY session mirror --session-id py-big --cwd $P_S3"
  else
    na s3.big.py s3 tracecraft-ai "tracecraft session mirror, $BIG delta" "n/a (tracecraft-ai not installed)"
  fi
  big_age_rows
  big_rows local "$P_LOC"
  measure local.big.cp local cp "cp of the same $BIG (physical floor)" "$BIG_RUNS" 1 "" "cp $W/data/big $W/cp/big"
}

# ---------------------------------------------------------------------------------------
# 4. A huge session: show --tail 5 and compact
# ---------------------------------------------------------------------------------------

# snapshot/restore of one session (store objects + our local state), so each compact run
# starts from the same uncompacted session. Data files are hard links (s3s-fs and the local
# store replace files by rename, never in place); small metadata files are copied.
snapshot() { # NAME DIR...
  local name=$1
  shift
  rm -rf "${W:?}/snap/$name"
  mkdir -p "$W/snap/$name/state"
  local d
  for d in "$@"; do
    mkdir -p "$W/snap/$name$(dirname "$d")"
    cp -al "$d" "$W/snap/$name$d"
  done
  cp -a "$HOME/.tracecraft/state/huge".* "$W/snap/$name/state/" 2>/dev/null || true
  if [ "$name" = s3 ]; then cp -a "$S3ROOT"/.bucket-Ymln.* "$W/snap/$name/state/" 2>/dev/null || true; fi
}
cat >"$W/restore.sh" <<EOF
#!/usr/bin/env bash
# restore.sh NAME DIR...: put a snapshot back.
set -euo pipefail
name=\$1
shift
for d in "\$@"; do
  rm -rf "\$d"
  cp -al "$W/snap/\$name\$d" "\$d"
done
rm -f "$HOME/.tracecraft/state/huge".*
if [ "\$name" = s3 ]; then
  rm -f "$S3ROOT"/.bucket-Ymln.*
  cp -a "$W/snap/\$name/state"/.bucket-Ymln.* "$S3ROOT/" 2>/dev/null || true
fi
cp -a "$W/snap/\$name/state"/huge.* "$HOME/.tracecraft/state/" 2>/dev/null || true
EOF

huge_rows() { # GROUP PROJECT STOREDIR
  local g=$1 p=$2 dir=$3
  measure "$g.huge.flush" "$g" tracecraft-hook "flush of the whole $HUGE session (one run)" 0 0 "" \
    "$BIN flush --session-id huge --cwd $p"
  snapshot "$g" "$dir"
  if has_cmd show; then
    measure "$g.show" "$g" tracecraft-hook "show --tail 5 of the $HUGE session" "$SHOW_RUNS" 1 "" \
      "cd $p && $BIN show huge --tail 5 --raw"
  else
    na "$g.show" "$g" tracecraft-hook "show --tail 5 of the $HUGE session" "n/a (command not available)"
  fi
  if has_cmd html; then # streams: peak RSS must not grow with the session
    measure "$g.html.huge" "$g" tracecraft-hook "html of the $HUGE session (one run)" 0 0 "" \
      "cd $p && $BIN html huge -o -"
  fi
  # The floor of compact: read every part and write the same bytes once, with curl / cat.
  local parts_dir="$dir/bench/sessions/claude-code/huge"
  if [ "$g" = s3 ]; then
    cat "$parts_dir"/part-* >"$W/data/huge.concat" # what compact uploads (prepared, not timed)
    {
      printf '#!/usr/bin/env bash\nset -euo pipefail\n'
      printf 'curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user %s:%s -H x-amz-content-sha256:UNSIGNED-PAYLOAD' "$AK" "$SK"
      for f in "$parts_dir"/part-*; do printf ' -o /dev/null %s/big/bench/sessions/claude-code/huge/%s' "$ENDPOINT" "${f##*/}"; done
      printf '\ncurl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user %s:%s -H x-amz-content-sha256:UNSIGNED-PAYLOAD' "$AK" "$SK"
      printf ' -o /dev/null -T %s %s/big/raw/huge\n' "$W/data/huge.concat" "$ENDPOINT"
    } >"$W/compact-floor.sh"
    measure "$g.compact.floor" "$g" curl "raw GET of every part + one raw PUT of the $HUGE (floor of compact)" \
      "$COMPACT_RUNS" 0 "" "bash $W/compact-floor.sh"
  else
    measure "$g.compact.floor" "$g" cat "cat of every part into one file (floor of compact)" "$COMPACT_RUNS" 0 "" \
      "cat $parts_dir/part-* > $W/cp/huge"
  fi
  if has_cmd compact; then
    measure "$g.compact" "$g" tracecraft-hook "compact of the $HUGE session" "$COMPACT_RUNS" 0 \
      "bash $W/restore.sh $g $dir" "cd $p && $BIN compact huge"
  else
    na "$g.compact" "$g" tracecraft-hook "compact of the $HUGE session" "n/a (command not available)"
  fi
}
section_huge() {
  local huge_t
  say "generating a $HUGE session"
  huge_t="$(transcript_of "$P_BIG" huge)"
  gen "$huge_t" "$HUGE" --seed 6 --secret-every 100
  mkdir -p "$(dirname "$(transcript_of "$P_LBIG" huge)")"
  ln -f "$huge_t" "$(transcript_of "$P_LBIG" huge)"
  huge_rows s3 "$P_BIG" "$S3ROOT/big"
  if [ -n "$TC_PY" ]; then
    bash "$W/restore.sh" s3 "$S3ROOT/big"
    measure py.show s3 tracecraft-ai "tracecraft session show --tail 5 (one run)" 0 0 "" \
      "cd $P_BIG && $TC_PY session show huge --tail 5"
    measure py.compact s3 tracecraft-ai "tracecraft session compact (one run)" 0 0 \
      "bash $W/restore.sh s3 $S3ROOT/big" "cd $P_BIG && $TC_PY session compact huge"
  fi
  rm -rf "$S3ROOT/big" "$W/snap/s3" "$W/data/huge.concat" # free the disk before the local copy
  mkdir -p "$S3ROOT/big"
  rm -f "$HOME/.tracecraft/state/huge".*
  huge_rows local "$P_LBIG" "$W/local/big"
  rm -rf "$W/local/big" "$W/snap/local" "$huge_t"
}

# ---------------------------------------------------------------------------------------
# 4b. html: render the $BIG session as a page, on one core (taskset), from both stores
# ---------------------------------------------------------------------------------------
section_html() {
  local g p t
  for g in local s3; do
    p="$P_LBIG"
    [ "$g" = s3 ] && p="$P_BIG"
    if ! has_cmd html; then
      na "$g.html" "$g" tracecraft-hook "html of a $BIG session, one core" "n/a (command not available)"
      continue
    fi
    t="$(transcript_of "$p" page)"
    mkdir -p "$(dirname "$t")"
    cp "$W/data/big" "$t"
    "$BIN" flush --session-id page --cwd "$p" >/dev/null
    measure "$g.html" "$g" tracecraft-hook "html of a $BIG session, one core" "$BIG_RUNS" 1 "" \
      "cd $p && taskset -c 0 $BIN html page -o -"
  done
}

# ---------------------------------------------------------------------------------------
# 5. list on a bucket of many sessions
# ---------------------------------------------------------------------------------------
section_list() {
  say "writing $SESSIONS sessions"
  "$PY" "$BENCH/tool.py" gen-sessions "$S3ROOT/many" bench "$SESSIONS"
  "$PY" "$BENCH/tool.py" gen-sessions "$W/local/many" bench "$SESSIONS"
  if has_cmd list; then
    measure s3.list s3 tracecraft-hook "list, $SESSIONS sessions" "$LIST_RUNS" 1 "" "cd $P_MANY && $BIN list"
    measure local.list local tracecraft-hook "list, $SESSIONS sessions" "$LIST_RUNS" 1 "" "cd $P_LMANY && $BIN list"
  else
    na s3.list s3 tracecraft-hook "list, $SESSIONS sessions" "n/a (command not available)"
    na local.list local tracecraft-hook "list, $SESSIONS sessions" "n/a (command not available)"
  fi
  if [ -n "$TC_PY" ]; then
    # One run: tracecraft-ai GETs every meta.json (tens of seconds for 1000 sessions).
    measure py.list s3 tracecraft-ai "tracecraft session list, $SESSIONS sessions (one run)" 0 0 "" \
      "cd $P_MANY && $TC_PY session list"
  fi
}

# ---------------------------------------------------------------------------------------
# 6. search: warm (parts cached) vs rg -F on the cached files; cold vs raw parallel GET
# ---------------------------------------------------------------------------------------
SEARCH_NEEDLE="zebra-quartz-4471"
section_search() {
  local p="$W/p/search" i t total urls
  s3_project "$p" search
  mkdir -p "$S3ROOT/search"
  say "writing $SEARCH_SESSIONS sessions of $SEARCH_EACH for search"
  for i in $(seq 1 "$SEARCH_SESSIONS"); do
    t="$(transcript_of "$p" "search-$i")"
    gen "$t" "$SEARCH_EACH" --seed $((100 + i))
    # A literal with few hits: one session in ten says it once.
    if [ $((i % 10)) = 1 ]; then
      printf '{"type":"user","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"where is the %s error"}}\n' \
        "$SEARCH_NEEDLE" >>"$t"
    fi
    "$BIN" flush --session-id "search-$i" --cwd "$p" >/dev/null
  done
  total="$(du -sh "$S3ROOT/search" | cut -f1)"
  if ! has_cmd search; then
    na s3.search.warm s3 tracecraft-hook "search, warm" "n/a (command not available)"
    return
  fi
  local cache="$HOME/.tracecraft/cache"
  (cd "$p" && "$BIN" sync 2>/dev/null)
  measure s3.search.warm s3 tracecraft-hook "search, warm: $SEARCH_SESSIONS sessions ($total) cached" \
    "$SEARCH_RUNS" 1 "" "cd $p && $BIN search $SEARCH_NEEDLE"
  if command -v rg >/dev/null; then
    measure s3.search.rg - rg "rg -F on the same cached files (floor of warm search)" "$SEARCH_RUNS" 1 "" \
      "rg -F -c $SEARCH_NEEDLE $cache || true"
  else
    na s3.search.rg - rg "rg -F on the same cached files" "n/a (apt-get install ripgrep)"
  fi
  measure s3.search.cold s3 tracecraft-hook "search, cold: $SEARCH_SESSIONS sessions ($total), empty cache" \
    "$SEARCH_RUNS" 0 "rm -rf $cache" "cd $p && $BIN search $SEARCH_NEEDLE"
  measure s3.search.nocache s3 tracecraft-hook "search --no-cache (downloads, caches nothing)" \
    "$SEARCH_RUNS" 0 "" "cd $p && $BIN search --no-cache $SEARCH_NEEDLE"
  # The floor of a cold search: GET every part, 8 at a time, one curl.
  urls=()
  for f in "$S3ROOT"/search/bench/sessions/claude-code/*/part-*; do
    urls+=(-o /dev/null "$ENDPOINT/search/bench/sessions/claude-code/$(basename "$(dirname "$f")")/${f##*/}")
  done
  printf '#!/usr/bin/env bash\nexec curl -sf -Z --parallel-max 8 --aws-sigv4 aws:amz:us-east-1:s3 --user %s:%s -H x-amz-content-sha256:UNSIGNED-PAYLOAD %s\n' \
    "$AK" "$SK" "${urls[*]}" >"$W/search-floor.sh"
  measure s3.search.rawget s3 curl "raw parallel GET of the same parts (floor of cold search)" "$SEARCH_RUNS" 0 "" \
    "bash $W/search-floor.sh"
}

# ---------------------------------------------------------------------------------------
# 7. In-process benches (benches/*.rs), one core
# ---------------------------------------------------------------------------------------
section_inproc() {
  export BENCH_JSON="$W/inproc.jsonl"
  : >"$BENCH_JSON"
  if [ "$QUICK" = 1 ]; then
    say "in-process benches (smoke: cargo test --bench ...)"
    (cd "$ROOT" && HOME="$REAL_HOME" cargo test --quiet --bench redact --bench engine >&2)
  else
    say "in-process benches (cargo bench)"
    (cd "$ROOT" && HOME="$REAL_HOME" cargo bench --quiet --bench redact --bench engine >&2)
  fi
  cat "$BENCH_JSON" >>"$RESULTS"
}

for s in bin hook big html huge list search inproc; do
  if section "$s"; then "section_$s"; fi
done

# ---------------------------------------------------------------------------------------
# 8. Report
# ---------------------------------------------------------------------------------------
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
LOADED="$(awk -v a="${LOAD_START%% *}" -v b="${LOAD_END%% *}" 'BEGIN { print (a > 0.7 || b > 1.7) ? "True" : "False" }')"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$ROOT" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || COMMIT="$COMMIT (+ uncommitted changes)"
"$PY" - "$W/machine.json" <<EOF
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "commit": "$COMMIT",
    "nproc": "$(nproc)",
    "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -1)",
    "mem": "$(free -h | awk '/^Mem:/ {print $2}')",
    "kernel": "$(uname -r)",
    "load_start": "$LOAD_START",
    "load_end": "$LOAD_END",
    "loaded": $LOADED,
    "quick": bool($QUICK),
    "bin_size": $(stat -c %s "$BIN"),
    "profile": "$PROFILE",
    "s3s": "$(s3s-fs --version | awk '{print $2}')",
    "tracecraft_ai": "$TC_PY_VERSION",
    "sizes": "base transcript $BASE, deltas $DELTAS, big delta $BIG, huge session $HUGE, list $SESSIONS sessions, search $SEARCH_SESSIONS sessions of $SEARCH_EACH",
    "extra": {"list_sessions": $SESSIONS, "list_objects": $((SESSIONS * 2))},
}, open(sys.argv[1], "w"))
EOF
if [ "$QUICK" = 1 ] || [ -n "$ONLY" ]; then
  OUT="$W"
else
  OUT="$BENCH/results"
  mkdir -p "$OUT"
fi
"$PY" "$BENCH/tool.py" report "$RESULTS" "$W/machine.json" "$OUT/latest.md" "$OUT/latest.json"
if grep -q "ERROR" "$HOME/.tracecraft/hook.log" 2>/dev/null; then
  echo "errors in the hook log:" >&2
  grep "ERROR" "$HOME/.tracecraft/hook.log" | tail -5 >&2
  exit 1
fi
