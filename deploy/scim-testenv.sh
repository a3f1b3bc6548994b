#!/usr/bin/env bash
# A third-party SCIM 2.0 server for the scim connector's tests: SCIMMY with scimmy-routers on
# express 4 (deploy/scim-peer: pinned package.json and package-lock.json, a small storage glue,
# server.mjs), installed from the npm registry with `npm ci` and started on 127.0.0.1 only.
# See ../shared/notes/scim-test-peer.md for how it answers.
#
#   bash deploy/scim-testenv.sh start   # install (when the lock file changed), start, wait; print the env
#   bash deploy/scim-testenv.sh env     # print the env file (the token redacted)
#   bash deploy/scim-testenv.sh stop    # end the server this script started (by its PID)
#   bash deploy/scim-testenv.sh wipe    # stop, then remove the directory this script created
#
# Everything lives in TILGANG_SCIM_DIR (default /var/tmp/tilgang-scim), created with a marker
# file; the script refuses to act on a directory without it. The server keeps its data in memory:
# a restart empties it. start is idempotent: with the server up it only checks that it answers.
#
# The env file ($DIR/env, mode 0600) holds what the tests read:
#   TILGANG_SCIM_URL=http://127.0.0.1:<port>/scim/v2, TILGANG_SCIM_TOKEN, TILGANG_SCIM_TOKEN_FILE
# Tests find it at $TILGANG_SCIM_ENV_FILE, else at the default path.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${TILGANG_SCIM_DIR:-/var/tmp/tilgang-scim}"
MARKER="$DIR/.tilgang-scim-testenv"
PIDFILE="$DIR/server.pid"
ENVFILE="$DIR/env"
APP="$DIR/app"

TESTENV=scim-testenv
. "$(dirname "$0")/lib/testenv.sh"

running_pid() { pid_matching server.mjs; }

answers() {
	local url token
	url="$(sed -n 's/^TILGANG_SCIM_URL=//p' "$ENVFILE" 2>/dev/null)"
	token="$(cat "$DIR/token" 2>/dev/null)"
	[ -n "$url" ] && curl -fsS -m 2 -o /dev/null -H "Authorization: Bearer $token" "$url/ServiceProviderConfig"
}

install() {
	command -v node >/dev/null || die "Node.js is not installed (need Node.js 18 or later)"
	command -v npm >/dev/null || die "npm is not installed"
	mkdir -p "$APP"
	# npm ci only when the pinned lock file changed.
	if ! cmp -s "$HERE/scim-peer/package-lock.json" "$APP/package-lock.json" || [ ! -d "$APP/node_modules" ]; then
		cp "$HERE/scim-peer/package.json" "$HERE/scim-peer/package-lock.json" "$APP/"
		say "npm ci (scimmy, scimmy-routers, express 4; pinned)"
		(cd "$APP" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
	fi
	cp "$HERE/scim-peer/server.mjs" "$APP/"
}

start() {
	require_owned
	mkdir -p "$DIR"
	touch "$MARKER"
	chmod 700 "$DIR"
	if pid="$(running_pid)" && answers; then
		say "already running (pid $pid)"
		cat "$ENVFILE" | sed 's/^TILGANG_SCIM_TOKEN=.*/TILGANG_SCIM_TOKEN=(redacted)/'
		return 0
	fi
	stop_quiet
	install
	if [ ! -s "$DIR/token" ]; then
		(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/token")
	fi
	local log="$DIR/server.log" port="" pid=""
	: > "$log"
	(cd "$APP" && SCIM_TOKEN="$(cat "$DIR/token")" SCIM_PORT="${TILGANG_SCIM_PORT:-0}" exec setsid node server.mjs) >>"$log" 2>&1 </dev/null &
	# The server prints its port and its PID (setsid may fork, so $! is not it).
	for _ in $(seq 1 100); do
		read -r port pid < <(sed -n 's/^listening \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$log" | head -1) || true
		[ -n "$port" ] && break
		grep -q . "$log" && { cat "$log" >&2; die "the server did not start"; }
		sleep 0.1
	done
	[ -n "$port" ] && echo "$pid" > "$PIDFILE"
	[ -n "$port" ] || die "the server did not report its port within 10 s (see $log)"
	(umask 077; cat > "$ENVFILE" <<ENV
TILGANG_SCIM_URL=http://127.0.0.1:$port/scim/v2
TILGANG_SCIM_TOKEN=$(cat "$DIR/token")
TILGANG_SCIM_TOKEN_FILE=$DIR/token
ENV
	)
	answers || die "the server does not answer (see $log)"
	say "started (pid $(cat "$PIDFILE"), port $port)"
	sed 's/^TILGANG_SCIM_TOKEN=.*/TILGANG_SCIM_TOKEN=(redacted)/' "$ENVFILE"
}

stop_quiet() {
	local pid
	if pid="$(running_pid)"; then
		kill -TERM "$pid"
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
env) require_owned; sed 's/^TILGANG_SCIM_TOKEN=.*/TILGANG_SCIM_TOKEN=(redacted)/' "$ENVFILE" ;;
stop) require_owned; stop_quiet; say "stopped" ;;
wipe) require_owned; stop_quiet; [ -d "$DIR" ] && rm -rf "$DIR"; say "wiped" ;;
*) echo "usage: $0 start|env|stop|wipe" >&2; exit 2 ;;
esac
