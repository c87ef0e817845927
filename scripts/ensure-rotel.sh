#!/usr/bin/env bash
# ensure-rotel.sh - make sure a real OTLP receiver is installed for the tests of
# crates/aureon-otlp: rotel (PyPI `rotel`, an OpenTelemetry collector written in Rust whose
# wheel ships the `rotel-agent` binary), in a virtual environment under target/.
#
# Installs only when the binary is missing; otherwise changes nothing. Prints the binary's
# path on stdout, what it found or did on stderr. Safe to run again. Needs python3 with
# the venv module and access to PyPI (only the first time).
#
# usage: scripts/ensure-rotel.sh          (venv: $ROTEL_VENV, default target/rotel-venv)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "ensure-rotel: $*" >&2; }

# Pinned: rotel is alpha, and the test reads its debug exporter's log format.
VERSION="0.0.1a15"
VENV="${ROTEL_VENV:-target/rotel-venv}"

find_agent() {
  compgen -G "$VENV/lib/python3*/site-packages/rotel/rotel-agent" | head -n 1 || true
}

agent="$(find_agent)"
if [ -n "$agent" ] && [ -x "$agent" ] && [ -f "$VENV/.rotel-$VERSION" ]; then
  say "found $agent ($("$agent" --version 2>&1 | head -n 1))"
  echo "$agent"
  exit 0
fi

apt_install() {
  local SUDO=()
  [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  command -v apt-get >/dev/null || return 1
  say "running: apt-get install -y --no-install-recommends $*"
  "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v python3 >/dev/null; then
  say "python3 is missing; installing Debian's python3 and python3-venv"
  apt_install python3 python3-venv || { say "install python3 with the venv module, then run again"; exit 1; }
fi
if [ ! -x "$VENV/bin/pip" ]; then
  say "creating the virtual environment $VENV"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV"; then
    say "python3 -m venv failed; installing Debian's python3-venv"
    rm -rf "$VENV"
    apt_install python3-venv && python3 -m venv "$VENV" || { say "python3 -m venv still fails: install the venv module, then run again"; exit 1; }
  fi
fi
say "running: $VENV/bin/pip install --pre rotel==$VERSION"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --pre "rotel==$VERSION" >&2

agent="$(find_agent)"
if [ -z "$agent" ]; then
  say "rotel installed, but its wheel has no rotel/rotel-agent binary (no wheel for this platform or Python?)"
  exit 1
fi
chmod +x "$agent"
touch "$VENV/.rotel-$VERSION"
say "installed $agent ($("$agent" --version 2>&1 | head -n 1))"
echo "$agent"
