package config

import (
	"sync"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/ad"
	"github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/connectors/rest"
	"github.com/ror-ikt/tilgang/connectors/scim"
)

var (
	extraMu sync.Mutex
	extra   []func(*connectors.Registry)
)

// RegisterTypes adds connector types to every DefaultRegistry from now on.
// cmd/tilgang registers entra this way, so that only the binary (and
// connectors/entra's own tests) compile Microsoft Graph, not every package
// that imports config.
func RegisterTypes(f func(*connectors.Registry)) {
	extraMu.Lock()
	defer extraMu.Unlock()
	extra = append(extra, f)
}

// DefaultRegistry is a new registry of every connector type this build
// knows, for `tilgang worker` and `tilgang config check`. Each call builds
// a fresh one, so tests may add types of their own.
func DefaultRegistry() *connectors.Registry {
	reg := &connectors.Registry{}
	reg.Register("manual", func() connectors.Config { return &manual.Config{} })
	reg.Register("noop", func() connectors.Config { return &noop.Config{} })
	ad.Register(reg)
	csv.Register(reg)
	rest.Register(reg)
	scim.Register(reg)
	extraMu.Lock()
	defer extraMu.Unlock()
	for _, f := range extra {
		f(reg)
	}
	return reg
}
