#!/usr/bin/env bash
# An SMTP server for the notification tests: mailpit (github.com/axllent/mailpit, pinned), built
# from the Go module proxy with `go install` into this script's directory. Tests
# (internal/testenv/mailtest) start a mailpit of their own per test, on free ports of 127.0.0.1,
# and read the mail back through its HTTP API; `install` is what makes them runnable. `start`
# also runs a shared one for `tilgang dev --smtp` and for looking at mail by hand.
#
#   bash deploy/mail-testenv.sh install  # build mailpit when missing; print the env
#   bash deploy/mail-testenv.sh start    # install, start the shared server, wait; print the env
#   bash deploy/mail-testenv.sh status   # say whether the shared server runs
#   bash deploy/mail-testenv.sh stop     # end the shared server this script started (by its PID)
#   bash deploy/mail-testenv.sh wipe     # stop, then remove the directory this script created
#
# Everything lives in TILGANG_MAIL_DIR (default /var/tmp/tilgang-mail), created with a marker
# file; the script refuses to act on a directory without it. The env file ($DIR/env) holds
#   TILGANG_MAILPIT (the binary), TILGANG_SMTP (the shared server's SMTP address, after start),
#   TILGANG_MAILPIT_API (its HTTP API, after start)
# Tests find it at $TILGANG_MAIL_ENV_FILE, else at the default path.
set -euo pipefail

VERSION=v1.33.1
DIR="${TILGANG_MAIL_DIR:-/var/tmp/tilgang-mail}"
MARKER="$DIR/.tilgang-mail-testenv"
BIN="$DIR/bin/mailpit"
PIDFILE="$DIR/mailpit.pid"
ENVFILE="$DIR/env"
SMTP_PORT="${TILGANG_MAIL_SMTP_PORT:-1025}"
API_PORT="${TILGANG_MAIL_API_PORT:-8025}"

TESTENV=mail-testenv
. "$(dirname "$0")/lib/testenv.sh"

running_pid() { pid_matching mailpit; }

install() {
	require_owned
	mkdir -p "$DIR/bin"
	touch "$MARKER"
	if [ ! -x "$BIN" ] || [ "$(cat "$DIR/bin/VERSION" 2>/dev/null)" != "$VERSION" ]; then
		command -v go >/dev/null || die "Go is not installed"
		say "go install github.com/axllent/mailpit@$VERSION (about a minute with a cold build cache)"
		(cd "$DIR" && GOBIN="$DIR/bin" GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@$VERSION" >&2) || die "go install mailpit failed"
		echo "$VERSION" >"$DIR/bin/VERSION"
	fi
	write_env
}

write_env() {
	{
		echo "TILGANG_MAILPIT=$BIN"
		if running_pid >/dev/null; then
			echo "TILGANG_SMTP=127.0.0.1:$SMTP_PORT"
			echo "TILGANG_MAILPIT_API=http://127.0.0.1:$API_PORT"
		fi
	} >"$ENVFILE"
	cat "$ENVFILE"
}

start() {
	install >/dev/null
	if ! running_pid >/dev/null; then
		nohup "$BIN" -s "127.0.0.1:$SMTP_PORT" -l "127.0.0.1:$API_PORT" --disable-version-check \
			--smtp-auth-accept-any --smtp-auth-allow-insecure >"$DIR/mailpit.log" 2>&1 &
		echo $! >"$PIDFILE"
	fi
	for _ in $(seq 1 100); do
		curl -fsS -m 1 "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && { write_env; return 0; }
		sleep 0.1
	done
	die "mailpit did not answer on 127.0.0.1:$API_PORT (see $DIR/mailpit.log)"
}

case "${1:-}" in
install) install ;;
start) start ;;
status)
	if pid="$(running_pid)"; then say "running (pid $pid)"; write_env; else say "not running"; exit 1; fi ;;
stop)
	require_owned
	if pid="$(running_pid)"; then kill "$pid"; rm -f "$PIDFILE"; say "stopped"; fi
	[ -d "$DIR" ] && write_env >/dev/null || true ;;
wipe)
	require_owned
	if pid="$(running_pid)"; then kill "$pid"; fi
	[ -d "$DIR" ] && rm -rf "$DIR"
	say "wiped" ;;
*) die "usage: $0 install|start|status|stop|wipe" ;;
esac
