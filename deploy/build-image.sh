#!/usr/bin/env bash
# Builds the tilgang container image from deploy/Containerfile: a static
# binary (CGO_ENABLED=0) and the CA certificates in an image FROM scratch,
# run as user 10001.
#
#   bash deploy/build-image.sh TAG                 # e.g. ghcr.io/ror-ikt/tilgang:1.4.0
#   CONTAINER_ENGINE=podman bash deploy/build-image.sh TAG
#   bash deploy/build-image.sh --context DIR       # only prepare the build context in DIR
#
# CA_CERTS names the certificate bundle to copy in (default: the build
# machine's /etc/ssl/certs/ca-certificates.crt, from Debian's
# ca-certificates). Nothing is pulled: FROM scratch needs no base image.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ca="${CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
engine="${CONTAINER_ENGINE:-docker}"
only_context=""
if [ "${1:-}" = "--context" ]; then
	only_context="${2:?--context needs a directory}"
	ctx="$only_context"
	mkdir -p "$ctx"
else
	tag="${1:?usage: build-image.sh TAG | --context DIR}"
	ctx="$(mktemp -d)"
	trap 'rm -rf "$ctx"' EXIT
fi
[ -r "$ca" ] || { echo "build-image.sh: no CA bundle at $ca (apt-get install ca-certificates, or set CA_CERTS)" >&2; exit 1; }
version="$(git describe --always --dirty 2>/dev/null || echo unknown)"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ctx/tilgang" ./cmd/tilgang
cp "$ca" "$ctx/ca-certificates.crt"
# Modes set here, not with COPY --chmod: the legacy builder (no BuildKit) has no --chmod.
chmod 0555 "$ctx/tilgang"
chmod 0444 "$ctx/ca-certificates.crt"
cp deploy/Containerfile "$ctx/Containerfile"
if [ -n "$only_context" ]; then
	echo "$ctx"
	exit 0
fi
"$engine" build -q --label "org.opencontainers.image.version=$version" -f "$ctx/Containerfile" -t "$tag" "$ctx"
