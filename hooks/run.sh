#!/bin/sh
# Plugin launcher for tracecraft-hook: Claude Code runs this (from hooks/hooks.json) on
# every registered event with the event's JSON on stdin.
#
# It finds the binary and hands stdin to `tracecraft-hook hook`. It never builds anything
# (a hook must return in milliseconds) and never disturbs the session: whatever happens it
# prints nothing on stdout (SessionStart/UserPromptSubmit stdout would reach the model)
# and exits 0 (2 would block Claude, anything else shows an error). A missing binary is
# reported with one line in ~/.tracecraft/hook.log.
#
# Lookup order: $TRACECRAFT_HOOK_BIN, `tracecraft-hook` on PATH, ~/.local/bin,
# then a build inside the plugin directory (target/release).

root=${CLAUDE_PLUGIN_ROOT:-}
if [ -z "$root" ]; then
  # Run by hand: the plugin root is this script's parent directory.
  root=$(cd "$(dirname "$0")/.." 2>/dev/null && pwd) || root=.
fi

bin=
if [ -n "${TRACECRAFT_HOOK_BIN:-}" ] && [ -x "$TRACECRAFT_HOOK_BIN" ]; then
  bin=$TRACECRAFT_HOOK_BIN
elif found=$(command -v tracecraft-hook 2>/dev/null) && [ -x "$found" ]; then
  bin=$found
elif [ -n "${HOME:-}" ] && [ -x "$HOME/.local/bin/tracecraft-hook" ]; then
  bin=$HOME/.local/bin/tracecraft-hook
elif [ -x "$root/target/release/tracecraft-hook" ]; then
  bin=$root/target/release/tracecraft-hook
fi

if [ -z "$bin" ]; then
  if [ -n "${HOME:-}" ]; then
    log=$HOME/.tracecraft/hook.log
    (
      umask 077
      mkdir -p "$HOME/.tracecraft" 2>/dev/null || exit 0
      # Bounded: stop appending once the log passes 1 MiB.
      size=$(wc -c <"$log" 2>/dev/null) || size=0
      [ "${size:-0}" -lt 1048576 ] || exit 0
      printf '%s run.sh: tracecraft-hook binary not found; nothing mirrored. Build it: cd %s && ./install.sh --no-settings (or cargo build --release)\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$root" >>"$log"
    ) 2>/dev/null
  fi
  exit 0
fi

# Not `exec`: the shell stays to turn any failure of the binary (a crash, a stray exit
# code) into exit 0. stdin is inherited, so the payload reaches the binary untouched.
"$bin" hook >/dev/null || :
exit 0
