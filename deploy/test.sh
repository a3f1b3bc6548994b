#!/usr/bin/env bash
# Runs tilgang's whole test suite, as on a fresh machine: vet, a throw-away
# Samba AD DC, the SCIM test peer, the OpenID Connect test provider and the
# browser test environment (Chromium and axe-core; all installed from
# Debian's packages and the npm registry when missing), then every test with
# the race detector.
# The tests start their own NATS servers and SQLite files and use the local
# PostgreSQL (127.0.0.1:5432, database test, a schema per test). No test
# sends traffic outside 127.0.0.1.
#
#   bash deploy/test.sh            # everything
#   bash deploy/test.sh -short     # without the crash and replica tests
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "deploy/test.sh: Go is not installed (need Go 1.26)" >&2; exit 1; }
echo "== $(go version)"
echo "== go vet"
go vet ./...
# The ad connector's tests need a Samba AD DC: start it (or reuse it; installs Debian's Samba
# packages when missing) and export where it is.
echo "== Samba AD test environment"
bash deploy/samba-testenv.sh start >/dev/null
set -a; . "${TILGANG_SAMBA_DIR:-/var/tmp/tilgang-samba}/env"; set +a
# The scim connector's tests need a third-party SCIM server (SCIMMY on Node.js, pinned, from npm):
# start it (or reuse it) and say where its env file is.
echo "== SCIM test peer"
bash deploy/scim-testenv.sh start >/dev/null
export TILGANG_SCIM_ENV_FILE="${TILGANG_SCIM_DIR:-/var/tmp/tilgang-scim}/env"
# The portal's sign-in tests need an OpenID Connect provider (oidc-provider on Node.js, pinned, from
# npm): install it and start the shared one; internal/testenv/oidctest starts one per test from it.
echo "== OIDC test provider"
bash deploy/oidc-testenv.sh start >/dev/null
export TILGANG_OIDC_ENV_FILE="${TILGANG_OIDC_DIR:-/var/tmp/tilgang-oidc}/env"
# The portal's page tests drive a real Chromium and check each page with axe-core: install them
# when missing (Debian's chromium; axe-core pinned, from npm) and export where they are. The tests
# keep their screenshots in TILGANG_ARTEFACTS.
echo "== browser test environment"
bash deploy/browser-testenv.sh install >/dev/null
set -a; . "${TILGANG_BROWSER_DIR:-/var/tmp/tilgang-browser}/env"; set +a
export TILGANG_ARTEFACTS="${TILGANG_ARTEFACTS:-/var/tmp/tilgang-artefacts}"
# The notification tests need an SMTP server (mailpit, pinned, built with go install): build it
# when missing; internal/testenv/mailtest starts one per test from it.
echo "== mail test environment"
bash deploy/mail-testenv.sh install >/dev/null
export TILGANG_MAIL_ENV_FILE="${TILGANG_MAIL_DIR:-/var/tmp/tilgang-mail}/env"
echo "== go test"
go test -count=1 -race -timeout 40m "$@" ./...
