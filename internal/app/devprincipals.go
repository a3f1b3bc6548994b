package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ror-ikt/tilgang/internal/principals"
)

// DevPrincipalsFile, under the data directory, lists principals `tilgang
// dev` knows besides its own (dev, hr, portal, worker): a person who
// holds auditor, say, to read the audit in the portal. It is optional;
// `tilgang principal add --principals .tilgang/principals.yaml` writes it,
// and dev reads it at start.
const DevPrincipalsFile = "principals.yaml"

func devExtraPrincipals(data string, ps *principals.Set) (*principals.Set, error) {
	path := filepath.Join(data, DevPrincipalsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return ps, nil
	}
	extra, err := principals.Load(path)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	merged, err := principals.Merge(ps, extra)
	if err != nil {
		return nil, fmt.Errorf("dev: %s: %w", path, err)
	}
	return merged, nil
}
