# shellcheck shell=bash
# The tools the test suite needs, installed from the package registries. Sourced by
# .ci/test (the README's test command) and .ci/run (CI); one copy of the install code.
#
#   install_test_tools   install what is missing (each step says "already installed" if not)
#   export_test_tools    export the TRACECRAFT_TEST_* variable of each tool found
#   skipped_summary      list the tests skipped by TRACECRAFT_TEST_WITHOUT (target/tmp/skipped.txt)
#
# Needs ROOT (the repository) set by the caller. Knob: TRACECRAFT_CI_SKIP_INSTALL=1.

S3S_VERSION=0.14.1
MOTO_VERSION=5.2.5
CACHE="$ROOT/.ci/cache"
CLAUDE_NATIVE="$CACHE/npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
# The last pure-JavaScript ccusage (later releases need a per-platform native package).
CCUSAGE_VERSION=17.2.1
CCUSAGE_BIN="$CACHE/npm/node_modules/.bin/ccusage"
# OpenAI Codex CLI, pinned: tests/e2e_codex.rs is verified with this version. npm puts the
# native binary in the optional platform package (x64 or arm64).
CODEX_VERSION=0.171.0
case "$(uname -m)" in
  aarch64 | arm64) CODEX_NATIVE="$CACHE/npm/node_modules/@openai/codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex" ;;
  *) CODEX_NATIVE="$CACHE/npm/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex" ;;
esac
SKIPPED_FILE="$ROOT/target/tmp/skipped.txt"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

section() { printf '\n\033[1m==== %s ====\033[0m\n' "$*"; }

# Run as root, or through sudo if available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

# apt-get install, after one `apt-get update` per run; waits for a dpkg lock held by
# another apt (an unattended upgrade, a parallel install) instead of failing at once.
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get -o DPkg::Lock::Timeout=600 update
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "$@"
}

pip_install() {
  if ! python3 -m pip install "$@"; then
    # Debian/Ubuntu system Python refuses plain installs (PEP 668).
    echo "pip install failed; retrying with --break-system-packages"
    python3 -m pip install "$@" --break-system-packages
  fi
}

install_test_tools() {
  if [ "${TRACECRAFT_CI_SKIP_INSTALL:-}" = 1 ]; then
    echo "TRACECRAFT_CI_SKIP_INSTALL=1: not installing the test tools"
    return 0
  fi
  mkdir -p "$CACHE"

  section "Install: s3s-fs $S3S_VERSION (cargo; the first build takes a few minutes)"
  if s3s-fs --version 2>/dev/null | grep -qx "s3s-fs $S3S_VERSION"; then
    echo "already installed: $(command -v s3s-fs)"
  else
    cargo install s3s-fs --version "$S3S_VERSION" --features binary --locked
  fi

  section "Install: moto $MOTO_VERSION, flask, flask-cors (pip)"
  if python3 -c "import sys, moto, moto.server, flask, flask_cors; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "already installed"
  else
    pip_install "moto[s3]==$MOTO_VERSION" flask flask-cors
  fi

  section "Install: tracecraft-ai (pip; the Python CLI, for the compatibility tests)"
  if python3 -c "import tracecraft.cli" 2>/dev/null; then
    echo "already installed"
  else
    pip_install tracecraft-ai
  fi

  section "Install: shellcheck (apt)"
  if command -v shellcheck >/dev/null; then
    echo "already installed: $(shellcheck --version | sed -n 's/^version: //p')"
  else
    apt_install shellcheck
  fi

  section "Install: GNU time (apt; peak RSS of flush in tests/hostile_server.rs)"
  if [ -x /usr/bin/time ]; then
    echo "already installed"
  else
    apt_install time
  fi

  # Client-side encryption (issue #12): tests/encrypt.rs proves interop with the real age CLI.
  section "Install: age (apt; the age CLI, for encryption interop tests)"
  if command -v age >/dev/null && command -v age-keygen >/dev/null; then
    echo "already installed: $(age --version)"
  else
    apt_install age
  fi

  section "Install: ripgrep (apt; the floor of the search benchmark)"
  if command -v rg >/dev/null; then
    echo "already installed: $(rg --version | head -n 1)"
  else
    apt_install ripgrep
  fi

  section "Install: Claude Code CLI (npm, into .ci/cache/npm; for the end-to-end tests)"
  if [ -x "$CLAUDE_NATIVE" ]; then
    echo "already installed"
  else
    npm install --prefix "$CACHE/npm" --no-audit --no-fund @anthropic-ai/claude-code
  fi

  section "Install: ccusage $CCUSAGE_VERSION (npm, into .ci/cache/npm; stats must equal its token totals)"
  if [ -x "$CCUSAGE_BIN" ] && "$CCUSAGE_BIN" --version 2>/dev/null | grep -qx "$CCUSAGE_VERSION"; then
    echo "already installed"
  else
    npm install --prefix "$CACHE/npm" --no-audit --no-fund "ccusage@$CCUSAGE_VERSION"
  fi

  section "Install: Codex CLI $CODEX_VERSION (npm @openai/codex, into .ci/cache/npm; for tests/e2e_codex.rs)"
  if [ -x "$CODEX_NATIVE" ] && "$CODEX_NATIVE" --version 2>/dev/null | grep -qx "codex-cli $CODEX_VERSION"; then
    echo "already installed: $("$CODEX_NATIVE" --version)"
  else
    # ~424 MB: the native binary comes with the optional platform package.
    npm install --prefix "$CACHE/npm" --no-audit --no-fund --save-exact "@openai/codex@$CODEX_VERSION"
    [ -x "$CODEX_NATIVE" ] || { echo "npm installed @openai/codex but not its native binary $CODEX_NATIVE" >&2; return 1; }
  fi

  # tests/e2e_codex.rs runs Codex in a fresh network namespace (only loopback): `unshare`
  # (util-linux) and `ip` (iproute2) bring up its loopback.
  section "Install: iproute2 (apt; ip, for the network namespace of the Codex end-to-end tests)"
  if command -v ip >/dev/null && command -v unshare >/dev/null; then
    echo "already installed"
  else
    apt_install iproute2 util-linux
  fi

  # -- html/share browser tests (tests/html_browser.rs): headless Chromium + playwright-core --
  section "Install: headless Chromium (apt) and playwright-core (npm; browser tests of html and share)"
  if command -v chromium >/dev/null; then
    echo "already installed: $(chromium --version 2>/dev/null)"
  else
    apt_install chromium
  fi
  if [ -f "$CACHE/npm/node_modules/playwright-core/package.json" ]; then
    echo "playwright-core already installed"
  else
    npm install --prefix "$CACHE/npm" --no-audit --no-fund playwright-core
  fi
}

# Point the tests at what was installed (a variable the user set already wins).
export_test_tools() {
  if [ -z "${TRACECRAFT_TEST_CLAUDE_BIN:-}" ] && [ -x "$CLAUDE_NATIVE" ]; then
    export TRACECRAFT_TEST_CLAUDE_BIN="$CLAUDE_NATIVE"
  fi
  if [ -z "${TRACECRAFT_TEST_CCUSAGE_BIN:-}" ] && [ -x "$CCUSAGE_BIN" ]; then
    export TRACECRAFT_TEST_CCUSAGE_BIN="$CCUSAGE_BIN"
  fi
  if [ -z "${TRACECRAFT_TEST_CODEX_BIN:-}" ] && [ -x "$CODEX_NATIVE" ]; then
    export TRACECRAFT_TEST_CODEX_BIN="$CODEX_NATIVE"
  fi
  if [ -z "${TRACECRAFT_TEST_S3S_BIN:-}" ] && command -v s3s-fs >/dev/null; then
    TRACECRAFT_TEST_S3S_BIN="$(command -v s3s-fs)"
    export TRACECRAFT_TEST_S3S_BIN
  fi
}

# The tests skipped on purpose (TRACECRAFT_TEST_WITHOUT), one per line with the tool.
skipped_summary() {
  section "Skipped tests"
  if [ -s "$SKIPPED_FILE" ]; then
    echo "TRACECRAFT_TEST_WITHOUT=${TRACECRAFT_TEST_WITHOUT:-} skipped these tests (or their part needing the tool):"
    sort -u "$SKIPPED_FILE" | awk -F '\t' '{ printf "  SKIPPED %s (needs %s)\n", $1, $2 }'
    echo "$(sort -u "$SKIPPED_FILE" | cut -f1 | sort -u | wc -l) test(s) skipped"
  else
    echo "none: every test ran"
  fi
}
