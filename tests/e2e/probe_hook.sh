#!/bin/sh
# Test-only Claude Code command hook (tests/e2e_claude.rs): saves its stdin payload as
# DIR/<nanoseconds>-<pid>.json so a test can see which events fired, in order, with what.
# Prints nothing, always exits 0. usage: probe_hook.sh DIR
f="$1/$(date +%s%N)-$$.json"
timeout 5 cat >"$f.tmp" && mv "$f.tmp" "$f"
exit 0
