#!/usr/bin/env bash
# Installs and starts the real engines the test suite runs against: Docker Engine (plus busybox for
# test images), Prometheus, Alertmanager and Redis. Idempotent; needs root and apt-get (Debian).
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || need+=(busybox-static)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The compose example is checked with `docker-compose config` (test/e2e/deploy-examples.test.ts).
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# A real load balancer in front of server replicas (test/e2e/scale-out.test.ts).
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
# The approvals console is tested in a real browser (playwright-core drives Debian's chromium; no download).
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "engines: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
  echo "engines: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# The tests start private Prometheus/Alertmanager/Redis instances on free loopback ports, so
# services the packages may have started are left alone.

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "engines: the Docker daemon is not running and only root can start it here" >&2
    exit 1
  fi
  echo "engines: starting dockerd" >&2
  mkdir -p /var/log
  nohup dockerd >/var/log/ravenhelm-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "engines: dockerd did not start; see /var/log/ravenhelm-dockerd.log" >&2; exit 1; }
fi
echo "engines: docker $(docker version --format '{{.Server.Version}}'), $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3), redis $(redis-server --version | cut -d' ' -f3)" >&2
