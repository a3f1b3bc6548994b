#!/usr/bin/env bash
# Vendors Designsystemet (Digdir, MIT) into internal/portal/static, where
# the portal embeds it: no CDN, no build step at run time.
#
# The versions are pinned in deploy/designsystemet/package.json and its
# package-lock.json. To update: change the versions there, run
# `npm install --package-lock-only --ignore-scripts` in deploy/designsystemet,
# then this script, and commit what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/deploy/designsystemet"
dst="$root/internal/portal/static/designsystemet"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cp "$src/package.json" "$src/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --silent)

css="$tmp/node_modules/@digdir/designsystemet-css"
theme="$tmp/node_modules/@digdir/designsystemet-theme"
mkdir -p "$dst"
cp "$css/dist/src/index.css" "$dst/designsystemet.css"
cp "$theme/src/themes/designsystemet.css" "$dst/theme.css"
cp "$css/LICENSE" "$dst/LICENSE-designsystemet-css"
cp "$theme/LICENSE" "$dst/LICENSE-designsystemet-theme" 2>/dev/null || cp "$css/LICENSE" "$dst/LICENSE-designsystemet-theme"
ver() { node -p "require('$1/package.json').version + ' ' + require('$1/package.json').license"; }
{
	echo "# Vendored by deploy/vendor-designsystemet.sh; do not edit by hand."
	echo "@digdir/designsystemet-css $(ver "$css") dist/src/index.css -> designsystemet.css"
	echo "@digdir/designsystemet-theme $(ver "$theme") src/themes/designsystemet.css -> theme.css"
} >"$dst/VERSIONS"
echo "vendored into $dst:"
cat "$dst/VERSIONS"
