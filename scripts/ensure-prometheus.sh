#!/usr/bin/env bash
# ensure-prometheus.sh - make sure the real Prometheus, promtool and the receivers of the push
# roads are installed, because the tests of crates/aureon-prometheus drive them (and fail, on
# purpose, without them): Prometheus 2.42 (remote-write receiver, scrapes), VictoriaMetrics
# 1.79 single node (remote write), the Pushgateway 1.5.
#
# Installs the Debian packages `prometheus` (which brings promtool), `victoria-metrics` and
# `prometheus-pushgateway`, each only when its binary is missing; otherwise changes nothing. Says what it found or did on stderr. Safe to run
# again. Needs root (or sudo) only when it has to install.
#
# The package would start a system Prometheus listening on 0.0.0.0:9090 and enable it at
# boot; the tests need only the binaries (they start their own on a free loopback port). So
# an install leaves no system service behind: services are kept from starting during it (a
# temporary /usr/sbin/policy-rc.d that denies starts, the Debian mechanism invoke-rc.d and
# deb-systemd-invoke obey, unless the machine already has one), then every service of the
# packages it installed is stopped where it runs and disabled (systemd and/or sysvinit,
# whichever is present), and nothing of them may be left listening: each step is said on
# stderr.
#
# usage: scripts/ensure-prometheus.sh [--reinstall]
#        --reinstall: run the install path even when both binaries exist (apt-get
#        --reinstall; its services count as installed by this run). For testing this script.
set -euo pipefail

say() { echo "ensure-prometheus: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

reinstall=0
case "${1:-}" in
  --reinstall) reinstall=1 ;;
  "") ;;
  *) say "unknown argument: $1 (usage: scripts/ensure-prometheus.sh [--reinstall])"; exit 2 ;;
esac

# binary:package pairs.
NEEDED=(prometheus:prometheus promtool:prometheus victoria-metrics:victoria-metrics
  prometheus-pushgateway:prometheus-pushgateway)
missing=()
packages=()
for pair in "${NEEDED[@]}"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  if [ "$reinstall" -eq 1 ] || ! have "$bin"; then
    have "$bin" || missing+=("$bin")
    case " ${packages[*]} " in *" $pkg "*) ;; *) packages+=("$pkg") ;; esac
  fi
done
if [ ${#packages[@]} -eq 0 ]; then
  for pair in "${NEEDED[@]}"; do say "found $(command -v "${pair%%:*}")"; done
  say "prometheus: $(prometheus --version 2>&1 | head -n 1)"
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]}; installing the Debian packages ${packages[*]}"
else
  say "--reinstall: reinstalling the Debian packages ${packages[*]}"
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  have sudo || { say "not root and no sudo: install them yourself: apt-get install --no-install-recommends ${packages[*]}"; exit 1; }
  SUDO=(sudo)
fi
if ! have apt-get; then
  say "no apt-get (not Debian/Ubuntu?): install Prometheus 2.42 or later with promtool, VictoriaMetrics and the Pushgateway, then run again"
  exit 1
fi

installed_packages() { dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" { print $2 }' | sort; }
before=$(installed_packages)

# Keep the packages' services from starting while they install. A policy-rc.d already
# there (containers ship one that denies everything) is the machine's choice: left alone.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() { if [ "$own_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
if [ ! -e "$policy" ]; then
  say "keeping the package's services from starting during the install (temporary $policy)"
  printf '#!/bin/sh\n# ensure-prometheus.sh: no service starts during its install (removed after it)\nexit 101\n' |
    "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  own_policy=1
fi

say "running: apt-get update"
"${SUDO[@]}" apt-get update -qq
apt_args=(install -y -qq --no-install-recommends)
[ "$reinstall" -eq 0 ] || apt_args+=(--reinstall)
say "running: apt-get ${apt_args[*]} ${packages[*]}"
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get "${apt_args[@]}" "${packages[@]}" >/dev/null
cleanup
own_policy=0

# The packages this run installed (with --reinstall, the reinstalled ones too).
mapfile -t added < <(comm -13 <(echo "$before") <(installed_packages))
[ "$reinstall" -eq 0 ] || added+=("${packages[@]}")

# Their services: systemd units and sysvinit scripts they ship.
services=()
for pkg in "${added[@]}"; do
  while IFS= read -r f; do
    name=$(basename "$f"); name=${name%.service}
    case " ${services[*]} " in *" $name "*) ;; *) services+=("$name") ;; esac
  done < <(dpkg -L "$pkg" 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/@]+\.service$|^/etc/init\.d/[^/]+$' || true)
done

systemd_runs=0
[ -d /run/systemd/system ] && systemd_runs=1
for svc in "${services[@]}"; do
  if [ "$systemd_runs" -eq 1 ]; then
    if systemctl is-active --quiet "$svc" 2>/dev/null; then
      "${SUDO[@]}" systemctl stop "$svc"
      say "stopped the system service $svc that the package started (systemd)"
    fi
  elif [ -x "/etc/init.d/$svc" ] && "${SUDO[@]}" "/etc/init.d/$svc" status >/dev/null 2>&1; then
    "${SUDO[@]}" "/etc/init.d/$svc" stop >/dev/null
    say "stopped the system service $svc that the package started (/etc/init.d/$svc)"
  fi
  # Not started at boot either: systemd's enablement (works without a running systemd) and
  # sysvinit's links.
  if have systemctl && systemctl list-unit-files "$svc.service" >/dev/null 2>&1 &&
    "${SUDO[@]}" systemctl disable --quiet "$svc" >/dev/null 2>&1; then
    say "disabled $svc.service (systemd: not started at boot)"
  fi
  if [ -x "/etc/init.d/$svc" ] && have update-rc.d &&
    "${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1; then
    say "disabled /etc/init.d/$svc (sysvinit: not started at boot)"
  fi
done
[ ${#services[@]} -gt 0 ] || say "the installed packages ship no system service"

# Nothing of theirs may be left running: no process of the packages' daemons, so nothing
# listens on 0.0.0.0:9090 (or anywhere) on their behalf.
left=()
for svc in "${services[@]}"; do
  for pid in $(pgrep -x "$svc" 2>/dev/null || true); do
    # Only daemons of the system install (run as the package's user by its init), not the
    # tests' own `prometheus` processes, which run as the caller.
    # (A stopped daemon whose parent has not reaped it yet is a zombie: gone.)
    read -r user stat < <(ps -o user=,stat= -p "$pid" 2>/dev/null || true)
    case "${stat:-Z}" in Z*) continue ;; esac
    if [ "$user" = "$svc" ] || [ "$user" = prometheus ] || [ "$user" = victoria-metrics ]; then left+=("$svc[$pid]"); fi
  done
done
if [ ${#left[@]} -gt 0 ]; then
  say "a system service is still running after the install: ${left[*]}; stop it (service NAME stop)"
  exit 1
fi
if have ss; then
  if ss -ltnH 'sport = :9090' | grep -q .; then
    say "note: something listens on port 9090 (not a service of this install): $(ss -ltnpH 'sport = :9090' | head -n 1)"
  else
    say "checked: nothing listens on port 9090"
  fi
fi

for pair in "${NEEDED[@]}"; do
  bin=${pair%%:*}
  if have "$bin"; then
    say "installed: $(command -v "$bin")"
  else
    say "the packages installed, but $bin is still not on PATH"
    exit 1
  fi
done
