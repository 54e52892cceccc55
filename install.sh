#!/bin/sh
# install.sh: build tracecraft-hook, put the binary in a bin directory, and register it as a
# Claude Code hook in a settings file. Run it again at any time: it only changes what is
# out of date (a second run changes nothing). See --help.
set -eu

NAME=tracecraft-hook

usage() {
	cat <<EOF
Usage: ./install.sh [options]

Build $NAME (cargo build --release), copy it to BIN_DIR and register it for Claude
Code's hook events in a settings file ($NAME install --scope SCOPE).

Options:
  --bin-dir DIR     where to put the binary (default: ~/.local/bin)
  --scope SCOPE     settings file to edit: user (~/.claude/settings.json, default),
                    project (.claude/settings.json) or local (.claude/settings.local.json);
                    project and local mean the current directory's project
  --yes, -y         do not ask before changing settings (asked only on a terminal)
  --no-build        do not run cargo; use the existing target/release/$NAME
  --no-settings     install (or remove) the binary only; leave settings alone
                    (use this when the Claude Code plugin registers the hooks)
  --uninstall       remove our hooks from the settings file, then the binary
  -h, --help        show this help

Environment: CARGO_TARGET_DIR is honoured when locating the built binary.
EOF
}

say() { printf '%s\n' "$*" >&2; }
die() {
	say "install.sh: $1"
	exit "${2:-1}"
}

BIN_DIR=
SCOPE=user
YES=0
BUILD=1
SETTINGS=1
UNINSTALL=0

while [ $# -gt 0 ]; do
	case $1 in
	--bin-dir)
		[ $# -ge 2 ] || die "--bin-dir needs a directory" 2
		BIN_DIR=$2
		shift 2
		;;
	--bin-dir=*)
		BIN_DIR=${1#*=}
		shift
		;;
	--scope)
		[ $# -ge 2 ] || die "--scope needs user, project or local" 2
		SCOPE=$2
		shift 2
		;;
	--scope=*)
		SCOPE=${1#*=}
		shift
		;;
	--yes | -y)
		YES=1
		shift
		;;
	--no-build)
		BUILD=0
		shift
		;;
	--no-settings)
		SETTINGS=0
		shift
		;;
	--uninstall)
		UNINSTALL=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown option: $1" 2
		;;
	esac
done

case $SCOPE in
user | project | local) ;;
*) die "unknown scope '$SCOPE': expected user, project or local" 2 ;;
esac

if [ -z "$BIN_DIR" ]; then
	[ -n "${HOME:-}" ] || die "HOME is not set; pass --bin-dir" 2
	BIN_DIR=$HOME/.local/bin
fi
case $BIN_DIR in
/*) ;;
*) BIN_DIR=$(pwd)/$BIN_DIR ;;
esac
TARGET=$BIN_DIR/$NAME

SRC_DIR=$(cd "$(dirname "$0")" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in
/*) ;;
*) TARGET_DIR=$SRC_DIR/$TARGET_DIR ;;
esac
BUILT=$TARGET_DIR/release/$NAME

# Ask once before touching settings, only when someone can answer.
confirm() {
	[ "$YES" = 1 ] && return 0
	[ -t 0 ] || return 0
	printf '%s [y/N] ' "$1" >&2
	answer=
	read -r answer || answer=
	case $answer in
	y | Y | yes | Yes | YES) return 0 ;;
	*) return 1 ;;
	esac
}

if [ "$UNINSTALL" = 1 ]; then
	if [ "$SETTINGS" = 1 ]; then
		# Any copy of the binary can clean settings: it recognises its hooks by name.
		bin=
		for c in "$TARGET" "$BUILT" "$(command -v "$NAME" 2>/dev/null || :)"; do
			if [ -n "$c" ] && [ -x "$c" ]; then
				bin=$c
				break
			fi
		done
		if [ -z "$bin" ]; then
			say "warning: no $NAME binary found to clean the $SCOPE settings;"
			say "         remove the '$NAME hook' entries under \"hooks\" by hand."
		elif confirm "Remove $NAME hooks from the $SCOPE settings?"; then
			"$bin" uninstall --scope "$SCOPE"
		else
			say "settings left alone"
		fi
	fi
	# Settings first: hooks must never point at a binary that is gone.
	if [ -e "$TARGET" ]; then
		rm -f "$TARGET"
		say "removed $TARGET"
	fi
	exit 0
fi

if [ "$BUILD" = 1 ]; then
	command -v cargo >/dev/null 2>&1 ||
		die "cargo not found: install Rust (https://rustup.rs), or build elsewhere and use --no-build"
	say "building $NAME (cargo build --release) in $SRC_DIR"
	if [ -f "$SRC_DIR/Cargo.lock" ]; then
		(cd "$SRC_DIR" && cargo build --release --locked)
	else
		(cd "$SRC_DIR" && cargo build --release)
	fi
fi
[ -x "$BUILT" ] || die "$BUILT not found: build it with cargo build --release (or drop --no-build)"

mkdir -p "$BIN_DIR"
if [ -f "$TARGET" ] && command -v cmp >/dev/null 2>&1 && cmp -s "$BUILT" "$TARGET"; then
	say "$TARGET is up to date"
else
	# Copy beside the target, then rename: a hook starting right now sees the old or the
	# new binary, never half of one (and a running copy keeps its inode).
	tmp=$BIN_DIR/.$NAME.tmp.$$
	trap 'rm -f "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	cp "$BUILT" "$tmp"
	chmod 755 "$tmp"
	mv -f "$tmp" "$TARGET"
	trap - EXIT HUP INT TERM
	say "installed $TARGET"
fi

case ":${PATH:-}:" in
*":$BIN_DIR:"*) ;;
*) say "warning: $BIN_DIR is not on PATH (hooks use the full path; add it to PATH for the CLI)" ;;
esac

if [ "$SETTINGS" = 1 ]; then
	if [ "$YES" = 0 ] && [ -t 0 ]; then
		"$TARGET" install --scope "$SCOPE" --dry-run
	fi
	if confirm "Register $NAME for Claude Code hook events in the $SCOPE settings?"; then
		"$TARGET" install --scope "$SCOPE"
	else
		say "settings left alone; to register later: $TARGET install --scope $SCOPE"
	fi
fi
