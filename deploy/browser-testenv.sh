#!/usr/bin/env bash
# A real browser for the portal's page tests: Debian's Chromium (apt-get) and axe-core for the
# accessibility checks (deploy/axe: pinned package.json and package-lock.json, installed from the
# npm registry with `npm ci`). Nothing runs in the background: each test starts its own headless
# Chromium through internal/testenv/browser and stops it when the test ends.
#
#   bash deploy/browser-testenv.sh install   # install what is missing; write and print the env file
#   bash deploy/browser-testenv.sh env       # print the env file
#   bash deploy/browser-testenv.sh wipe      # remove the directory this script created
#
# install is idempotent: with Chromium present and axe-core installed from the same lock file it
# only rewrites the env file. Chromium is installed only when /usr/bin/chromium (or
# $TILGANG_CHROMIUM) is missing, which needs root for apt-get.
#
# Everything lives in TILGANG_BROWSER_DIR (default /var/tmp/tilgang-browser), created with a
# marker file; the script refuses to act on a directory without it. The env file ($DIR/env) holds
# what the tests read:
#   TILGANG_CHROMIUM=/usr/bin/chromium
#   TILGANG_AXE_JS=$DIR/axe/node_modules/axe-core/axe.min.js
# Tests take these from the environment, else from $TILGANG_BROWSER_ENV_FILE, else from the
# default path.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${TILGANG_BROWSER_DIR:-/var/tmp/tilgang-browser}"
MARKER="$DIR/.tilgang-browser-testenv"
ENVFILE="$DIR/env"
AXE="$DIR/axe"
CHROMIUM="${TILGANG_CHROMIUM:-/usr/bin/chromium}"

TESTENV=browser-testenv
. "$(dirname "$0")/lib/testenv.sh"

install_chromium() {
	[ -x "$CHROMIUM" ] && return 0
	[ "$CHROMIUM" = /usr/bin/chromium ] || die "TILGANG_CHROMIUM=$CHROMIUM is not an executable file"
	[ "$(id -u)" = 0 ] || die "Chromium is missing and installing it needs root: sudo apt-get update && sudo apt-get install -y chromium"
	say "apt-get install chromium"
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
	[ -x "$CHROMIUM" ] || die "apt-get installed chromium, but $CHROMIUM is still missing"
}

install_axe() {
	command -v npm >/dev/null || die "npm is not installed (need Node.js 18 or later with npm)"
	mkdir -p "$AXE"
	# npm ci only when the pinned lock file changed or the installation is incomplete.
	if ! cmp -s "$HERE/axe/package-lock.json" "$AXE/package-lock.json" || [ ! -s "$AXE/node_modules/axe-core/axe.min.js" ]; then
		rm -f "$AXE/package-lock.json"
		cp "$HERE/axe/package.json" "$HERE/axe/package-lock.json" "$AXE/"
		say "npm ci (axe-core; pinned)"
		(cd "$AXE" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
	fi
	[ -s "$AXE/node_modules/axe-core/axe.min.js" ] || die "npm ci ran, but $AXE/node_modules/axe-core/axe.min.js is missing"
}

install() {
	require_owned
	mkdir -p "$DIR"
	touch "$MARKER"
	install_chromium
	install_axe
	cat > "$ENVFILE.tmp" <<ENV
TILGANG_CHROMIUM=$CHROMIUM
TILGANG_AXE_JS=$AXE/node_modules/axe-core/axe.min.js
ENV
	mv "$ENVFILE.tmp" "$ENVFILE"
	cat "$ENVFILE"
}

case "${1:-}" in
install) install ;;
env) require_owned; cat "$ENVFILE" ;;
wipe) require_owned; [ -d "$DIR" ] && rm -rf "$DIR"; say "wiped" ;;
*) echo "usage: $0 install|env|wipe" >&2; exit 2 ;;
esac
