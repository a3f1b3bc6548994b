package sqlledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The catalogue in force is the newest row of catalogues: reading its
// version is one step down the primary key. Files are stored as a JSON
// object of base64 strings, name -> contents.
const (
	catalogueVersionQ = `SELECT version FROM catalogues ORDER BY id DESC LIMIT 1`
	catalogueQ        = `SELECT version, files, at, actor, holder FROM catalogues ORDER BY id DESC LIMIT 1`
)

func scanCatalogueVersion(row *sql.Row) (string, error) {
	var v string
	if err := row.Scan(&v); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", classify(err, "read the catalogue version")
	}
	return v, nil
}

func scanCatalogue(row *sql.Row) (*ledger.Catalogue, error) {
	var (
		c     ledger.Catalogue
		files string
		at    int64
	)
	if err := row.Scan(&c.Version, &files, &at, &c.Actor, &c.Holder); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read the catalogue")
	}
	if err := json.Unmarshal([]byte(files), &c.Files); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "ledger: catalogue %s: files", c.Version)
	}
	c.At = fromMS(at)
	return &c, nil
}

func (s *Store) CatalogueVersion(ctx context.Context) (string, error) {
	return scanCatalogueVersion(s.read.QueryRowContext(ctx, catalogueVersionQ))
}

func (s *Store) Catalogue(ctx context.Context) (*ledger.Catalogue, error) {
	return scanCatalogue(s.read.QueryRowContext(ctx, catalogueQ))
}

// The transaction's reads take no lock (they do not go through
// forUpdate): every intake partition reads the version, side by side.

func (t *tx) CatalogueVersion() (string, error) {
	st, err := t.stmt(catalogueVersionQ)
	if err != nil {
		return "", err
	}
	return scanCatalogueVersion(st.QueryRowContext(t.ctx))
}

func (t *tx) Catalogue() (*ledger.Catalogue, error) {
	st, err := t.stmt(catalogueQ)
	if err != nil {
		return nil, err
	}
	return scanCatalogue(st.QueryRowContext(t.ctx))
}

func (t *tx) PutCatalogue(c ledger.Catalogue) error {
	if c.Version == "" || len(c.Files) == 0 {
		return tilgang.Errorf(tilgang.Invalid, "ledger: a catalogue needs a version and its files")
	}
	_, err := t.exec(`INSERT INTO catalogues (version, files, at, actor, holder) VALUES (?, ?, ?, ?, ?)`,
		c.Version, mustJSON(c.Files), ms(c.At), c.Actor, c.Holder)
	return err
}
