#!/usr/bin/env bash
# Makes the README's portal screenshots: runs the story test (internal/portal, TestStoryInChromium:
# a real OpenID Connect provider, a worker serving the portal, a headless Chromium) and the access
# review's (TestReviewInChromium) and copies their screenshots (the numbered ones, NN-name.png) into
# docs/screenshots/, replacing those there.
# Needs what the test needs: `bash deploy/oidc-testenv.sh start` and
# `bash deploy/browser-testenv.sh install` (deploy/test.sh runs both).
#
#   bash deploy/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
BROWSER_ENV="${TILGANG_BROWSER_DIR:-/var/tmp/tilgang-browser}/env"
[ -f "$BROWSER_ENV" ] || { echo "deploy/screenshots.sh: no $BROWSER_ENV; run: bash deploy/browser-testenv.sh install" >&2; exit 1; }
set -a; . "$BROWSER_ENV"; set +a
export TILGANG_OIDC_ENV_FILE="${TILGANG_OIDC_ENV_FILE:-${TILGANG_OIDC_DIR:-/var/tmp/tilgang-oidc}/env}"
ART="$(mktemp -d)"
trap 'rm -rf "$ART"' EXIT
# CI=true: a missing browser or provider fails the run instead of skipping it.
CI=true TILGANG_ARTEFACTS="$ART" go test -count=1 -run '^(TestStoryInChromium|TestReviewInChromium)$' ./internal/portal/
for test in TestStoryInChromium TestReviewInChromium; do
  found=("$ART/$test"/[0-9][0-9]-*.png)
  [ -e "${found[0]}" ] || { echo "deploy/screenshots.sh: $test left no screenshots in $ART/$test" >&2; exit 1; }
done
shots=("$ART"/TestStoryInChromium/[0-9][0-9]-*.png "$ART"/TestReviewInChromium/[0-9][0-9]-*.png)
mkdir -p docs/screenshots
rm -f docs/screenshots/[0-9][0-9]-*.png
cp "${shots[@]}" docs/screenshots/
echo "deploy/screenshots.sh: ${#shots[@]} screenshots in docs/screenshots/"
ls -l docs/screenshots/
