#!/usr/bin/env bash
# An OpenID Connect provider for the portal's tests: panva's oidc-provider on Node.js
# (deploy/oidc-peer: pinned package.json and package-lock.json, server.mjs with a plain login
# form), installed from the npm registry with `npm ci` and started on 127.0.0.1 only.
#
#   bash deploy/oidc-testenv.sh start    # install (when the lock file changed), start, wait; print the env
#   bash deploy/oidc-testenv.sh status   # say whether it runs and answers; print the env
#   bash deploy/oidc-testenv.sh env      # print the env file (the secret redacted)
#   bash deploy/oidc-testenv.sh stop     # end the provider this script started (by its PID)
#   bash deploy/oidc-testenv.sh wipe     # stop, then remove the directory this script created
#
# Go tests (internal/testenv/oidctest) start a provider of their own per test, with their own
# users, clients and port, from this checkout's server.mjs and the node_modules installed here
# (TILGANG_OIDC_PEER): `start` is what makes them runnable. The provider this script runs is a
# shared one for `tilgang dev --oidc-issuer` and for trying the portal in a browser.
#
# Everything lives in TILGANG_OIDC_DIR (default /var/tmp/tilgang-oidc), created with a marker
# file; the script refuses to act on a directory without it. The provider keeps sessions and its
# signing key in memory: a restart signs everyone out. start is idempotent: with the provider up
# it only checks that it answers.
#
# Its users and clients are in $DIR/users.json, written once (edit it and restart with stop and
# start): people of deploy/examples/people.json who sign in with their e-mail address and the
# password passord-<id>, with the claims name, preferred_username, email, email_verified and
# employeeid (the person id), and the confidential client tilgang-portal (client_secret_basic,
# PKCE required) with the redirect URI http://127.0.0.1/signin/callback and the post-logout
# redirect URI http://127.0.0.1/, each on any port of 127.0.0.1 (RFC 8252 loopback redirects).
#
# The env file ($DIR/env, mode 0600) holds:
#   TILGANG_OIDC_ISSUER=http://127.0.0.1:<port>, TILGANG_OIDC_CLIENT_ID, TILGANG_OIDC_CLIENT_SECRET,
#   TILGANG_OIDC_CLIENT_SECRET_FILE, TILGANG_OIDC_USERS (the users and clients file),
#   TILGANG_OIDC_PEER (the installed provider: server.mjs and node_modules)
# Tests find it at $TILGANG_OIDC_ENV_FILE, else at the default path.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${TILGANG_OIDC_DIR:-/var/tmp/tilgang-oidc}"
MARKER="$DIR/.tilgang-oidc-testenv"
PIDFILE="$DIR/server.pid"
ENVFILE="$DIR/env"
APP="$DIR/app"
USERS="$DIR/users.json"

TESTENV=oidc-testenv
. "$(dirname "$0")/lib/testenv.sh"

running_pid() { pid_matching server.mjs; }

answers() {
	local issuer
	issuer="$(sed -n 's/^TILGANG_OIDC_ISSUER=//p' "$ENVFILE" 2>/dev/null)"
	[ -n "$issuer" ] && curl -fsS -m 2 "$issuer/.well-known/openid-configuration" 2>/dev/null | grep -qF "\"issuer\":\"$issuer\""
}

redacted() { sed 's/^TILGANG_OIDC_CLIENT_SECRET=.*/TILGANG_OIDC_CLIENT_SECRET=(redacted)/' "$ENVFILE"; }

install() {
	command -v node >/dev/null || die "Node.js is not installed (need Node.js 20 or later; apt-get install nodejs npm)"
	command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
	mkdir -p "$APP"
	# npm ci only when the pinned lock file changed.
	if ! cmp -s "$HERE/oidc-peer/package-lock.json" "$APP/package-lock.json" || [ ! -d "$APP/node_modules" ]; then
		rm -f "$APP/package-lock.json"
		cp "$HERE/oidc-peer/package.json" "$APP/"
		cp "$HERE/oidc-peer/package-lock.json" "$APP/package-lock.json.new"
		mv "$APP/package-lock.json.new" "$APP/package-lock.json"
		say "npm ci (oidc-provider; pinned)"
		(cd "$APP" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) || { rm -f "$APP/package-lock.json"; die "npm ci failed"; }
	fi
	cp "$HERE/oidc-peer/server.mjs" "$APP/"
}

write_users() {
	[ -s "$USERS" ] && return 0
	(umask 077; cat > "$USERS.new" <<JSON
{
  "users": [
    {"sub": "7973fe50-f9a8-5c89-82fc-4550684df2c8", "login": "kari.nordhus@aukra.kommune.no", "password": "passord-1547-10300",
     "claims": {"name": "Kari Nordhus", "preferred_username": "kari.nordhus@aukra.kommune.no", "email": "kari.nordhus@aukra.kommune.no", "email_verified": true, "employeeid": "1547-10300"}},
    {"sub": "311f8fa4-00e7-5379-ba2c-12ae37890c1b", "login": "sindre.hollingsaeter@aukra.kommune.no", "password": "passord-1547-10412",
     "claims": {"name": "Sindre Hollingsæter", "preferred_username": "sindre.hollingsaeter@aukra.kommune.no", "email": "sindre.hollingsaeter@aukra.kommune.no", "email_verified": true, "employeeid": "1547-10412"}},
    {"sub": "cbc22dd9-e764-5551-851b-30e6c4e6e13e", "login": "marit.gjendem@aukra.kommune.no", "password": "passord-1547-20001",
     "claims": {"name": "Marit Gjendem", "preferred_username": "marit.gjendem@aukra.kommune.no", "email": "marit.gjendem@aukra.kommune.no", "email_verified": true, "employeeid": "1547-20001"}},
    {"sub": "63ec642a-f719-56e9-9692-acee4d26513e", "login": "randi.bjornerem@molde.kommune.no", "password": "passord-1506-20020",
     "claims": {"name": "Randi Bjørnerem", "preferred_username": "randi.bjornerem@molde.kommune.no", "email": "randi.bjornerem@molde.kommune.no", "email_verified": true, "employeeid": "1506-20020"}},
    {"sub": "cae7c1db-718f-5071-9dc3-80a81135821f", "login": "ase@aukra.kommune.no", "password": "passord-1547-10234",
     "claims": {"name": "Åse Øvergård-Bø", "preferred_username": "ase@aukra.kommune.no", "email": "ase@aukra.kommune.no", "email_verified": true, "employeeid": "1547-10234"}}
  ],
  "clients": [
    {"client_id": "tilgang-portal", "client_secret": "$(cat "$DIR/client_secret")", "application_type": "native",
     "redirect_uris": ["http://127.0.0.1/signin/callback"], "post_logout_redirect_uris": ["http://127.0.0.1/"]}
  ]
}
JSON
	mv "$USERS.new" "$USERS")
}

start() {
	require_owned
	mkdir -p "$DIR"
	touch "$MARKER"
	chmod 700 "$DIR"
	if pid="$(running_pid)" && answers; then
		say "already running (pid $pid)"
		redacted
		return 0
	fi
	stop_quiet
	install
	if [ ! -s "$DIR/client_secret" ]; then
		(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/client_secret")
	fi
	write_users
	local log="$DIR/server.log" issuer="" pid=""
	: > "$log"
	(cd "$APP" && exec setsid node server.mjs --config "$USERS" --port "${TILGANG_OIDC_PORT:-0}" --ready "$DIR/ready") >>"$log" 2>&1 </dev/null &
	# The provider prints its issuer and its PID (setsid may fork, so $! is not it).
	for _ in $(seq 1 100); do
		read -r issuer pid < <(sed -n 's/^issuer \(http[^ ]*\) \([0-9]*\)$/\1 \2/p' "$log" | head -1) || true
		[ -n "$issuer" ] && break
		# Anything but its warnings (the Node version, in-memory storage) and that line is an error.
		grep -v "WARNING" "$log" | grep -qv "^issuer " && { cat "$log" >&2; die "the provider did not start"; }
		sleep 0.1
	done
	[ -n "$issuer" ] || die "the provider did not report its issuer within 10 s (see $log)"
	echo "$pid" > "$PIDFILE"
	(umask 077; cat > "$ENVFILE" <<ENV
TILGANG_OIDC_ISSUER=$issuer
TILGANG_OIDC_CLIENT_ID=tilgang-portal
TILGANG_OIDC_CLIENT_SECRET=$(cat "$DIR/client_secret")
TILGANG_OIDC_CLIENT_SECRET_FILE=$DIR/client_secret
TILGANG_OIDC_USERS=$USERS
TILGANG_OIDC_PEER=$APP
ENV
	)
	answers || die "the provider does not answer (see $log)"
	say "started (pid $pid, $issuer)"
	redacted
}

status() {
	require_owned
	if pid="$(running_pid)" && answers; then
		say "running (pid $pid)"
		redacted
		return 0
	fi
	say "not running"
	return 1
}

stop_quiet() {
	local pid
	if pid="$(running_pid)"; then
		kill -TERM "$pid"
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$PIDFILE" "$DIR/ready"
}

case "${1:-}" in
start) start ;;
status) status ;;
env) require_owned; redacted ;;
stop) require_owned; stop_quiet; say "stopped" ;;
wipe) require_owned; stop_quiet; [ -d "$DIR" ] && rm -rf "$DIR"; say "wiped" ;;
*) echo "usage: $0 start|status|env|stop|wipe" >&2; exit 2 ;;
esac
