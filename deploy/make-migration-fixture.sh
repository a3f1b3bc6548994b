#!/usr/bin/env bash
# Makes the migration test's ledgers with the previous release's own code:
# a SQLite file and a pg_dump of a PostgreSQL schema, each written by that
# release's worker (app.Worker) applying joiners, requests and a waiting
# approval. internal/ledger/sqlledger's TestMigrateFromPreviousRelease opens
# them with today's code, migrates and verifies.
#
#   bash deploy/make-migration-fixture.sh [COMMIT]    # default fa7cd4d, the release of 2026-11-26
#
# It needs git, Go, PostgreSQL (127.0.0.1:5432, database test, as the tests
# use) and pg_dump. The files go to internal/ledger/sqlledger/testdata/migration/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
rel="${1:-fa7cd4d}"
out="$PWD/internal/ledger/sqlledger/testdata/migration"
dsn="${TILGANG_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test?sslmode=disable}"
schema=tilgang_fixture
wt="$(mktemp -d)"
cleanup() { git worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"; psql -q "$dsn" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
git worktree add -q --detach "$wt" "$rel"
cp "$out/generate_test.go.txt" "$wt/internal/testenv/zz_fixture_test.go"
rm -f "$out/sqlite.db" "$out/sqlite.db-wal" "$out/sqlite.db-shm"
(cd "$wt" && TILGANG_FIXTURE_SQLITE="$out/sqlite.db" go test -count=1 -run '^TestMakeMigrationFixture$' ./internal/testenv)
rm -f "$out/sqlite.db-wal" "$out/sqlite.db-shm" "$out/sqlite.db.lock"
psql -q "$dsn" -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema"
(cd "$wt" && TILGANG_FIXTURE_POSTGRES="$dsn&search_path=$schema" go test -count=1 -run '^TestMakeMigrationFixture$' ./internal/testenv)
# --inserts: plain statements the test runs through the driver (no COPY);
# the schema's name is replaced by the test's own schema. psql's own
# backslash lines (\restrict) are left out.
pg_dump --schema="$schema" --no-owner --no-privileges --inserts "$dsn" | grep -v '^\\' >"$out/postgres.sql"
git -C "$wt" log -1 --format='made by %H (%ad, %s)' --date=short >"$out/RELEASE"
echo "wrote $out/sqlite.db, $out/postgres.sql and $out/RELEASE"
