#!/usr/bin/env bash
# A container engine for the image test (cmd/tilgang's TestContainerImage):
# Debian's docker.io, its daemon started on a socket of its own under
# TILGANG_DOCKER_DIR (default /var/tmp/tilgang-docker), without iptables
# and without the default bridge (the test runs the image with the host's
# network, on 127.0.0.1). Writes DIR/env with DOCKER_HOST for the tests.
#
#   bash deploy/container-testenv.sh start     # install when missing, start or reuse
#   bash deploy/container-testenv.sh stop
set -euo pipefail
dir="${TILGANG_DOCKER_DIR:-/var/tmp/tilgang-docker}"
sock="$dir/docker.sock"
case "${1:-start}" in
stop)
	if [ -f "$dir/docker.pid" ]; then kill "$(cat "$dir/docker.pid")" 2>/dev/null || true; fi
	rm -f "$dir/env"
	exit 0
	;;
start) ;;
*) echo "usage: container-testenv.sh start|stop" >&2; exit 2 ;;
esac
mkdir -p "$dir"
rm -f "$dir/env"
if ! command -v dockerd >/dev/null; then
	for i in 1 2 3 4 5 6; do
		if apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >/dev/null; then
			break
		fi
		echo "container-testenv.sh: apt-get failed (lock held?), retrying" >&2
		sleep 10
	done
fi
command -v dockerd >/dev/null || { echo "container-testenv.sh: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
export DOCKER_HOST="unix://$sock"
if ! docker version >/dev/null 2>&1; then
	rm -f "$sock"
	setsid dockerd --host "$DOCKER_HOST" --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
		--iptables=false --ip-masq=false --bridge=none >"$dir/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 1 60); do
		docker version >/dev/null 2>&1 && break
		sleep 0.5
	done
fi
if ! docker version >/dev/null 2>&1; then
	echo "container-testenv.sh: dockerd did not start; its log:" >&2
	tail -20 "$dir/dockerd.log" >&2
	exit 1
fi
printf 'DOCKER_HOST=%s\nTILGANG_CONTAINER_ENGINE=docker\n' "$DOCKER_HOST" >"$dir/env"
echo "$dir/env"
