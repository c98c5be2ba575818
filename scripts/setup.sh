#!/usr/bin/env bash
# What `make test` needs beyond npm packages, set up on a fresh machine and checked (quietly) on a
# ready one: a Redis answering on 127.0.0.1:6379 (the integration tests use a real one) and
# Debian's chromium at /usr/bin/chromium (the dashboard tests drive it through playwright-core).
# Idempotent: prints nothing and installs nothing when both are there. Runs as root (CI, containers)
# or through sudo when not root.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
redis_up() { command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Redis: start one only if none answers (a developer's own Redis is left alone).
if ! redis_up; then
  echo "setup: no Redis on 127.0.0.1:6379; starting redis-server (Debian's package)"
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then apt_install redis-server redis-tools; fi
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
  redis_up || { echo "setup: redis-server did not answer on 127.0.0.1:6379" >&2; exit 1; }
fi

# Chromium: the dashboard tests (headless) and docs/ screenshots.
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (Debian's package) for the dashboard tests"
  apt_install chromium
  [ -x /usr/bin/chromium ] || { echo "setup: /usr/bin/chromium still missing after apt-get install chromium" >&2; exit 1; }
fi
