#!/usr/bin/env bash
# ensure-prometheus.sh - make sure the real Prometheus and promtool are installed, because the
# tests of crates/aureon-prometheus drive them (and fail, on purpose, without them).
#
# Installs Debian's `prometheus` package (which brings promtool) only when either binary is
# missing; otherwise changes nothing. Says what it found or did on stderr. Safe to run
# again. Needs root (or sudo) only when it has to install.
#
# usage: scripts/ensure-prometheus.sh
set -euo pipefail

say() { echo "ensure-prometheus: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

if have prometheus && have promtool; then
  say "found $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1))"
  say "found $(command -v promtool)"
  exit 0
fi

missing=()
have prometheus || missing+=(prometheus)
have promtool || missing+=(promtool)
say "missing: ${missing[*]}; installing Debian's prometheus package (brings promtool)"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  have sudo || { say "not root and no sudo: install it yourself: apt-get install --no-install-recommends prometheus"; exit 1; }
  SUDO=(sudo)
fi
if ! have apt-get; then
  say "no apt-get (not Debian/Ubuntu?): install Prometheus 2.42 or later and promtool, then run again"
  exit 1
fi

say "running: apt-get update"
"${SUDO[@]}" apt-get update -qq
say "running: apt-get install -y --no-install-recommends prometheus"
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# The package starts a system Prometheus on :9090 where systemd runs; the tests do not need
# it (they start their own on a free loopback port), so it is left as the package set it up.
if have prometheus && have promtool; then
  say "installed $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1)) and $(command -v promtool)"
else
  say "the package installed, but prometheus or promtool is still not on PATH"
  exit 1
fi
