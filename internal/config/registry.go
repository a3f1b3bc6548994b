package config

import (
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/ad"
	"github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/connectors/entra"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/connectors/rest"
	"github.com/ror-ikt/tilgang/connectors/scim"
)

// DefaultRegistry is a new registry of every connector type this build
// knows, for `tilgang worker` and `tilgang config check`. Each call builds
// a fresh one, so tests may add types of their own.
func DefaultRegistry() *connectors.Registry {
	reg := &connectors.Registry{}
	reg.Register("manual", func() connectors.Config { return &manual.Config{} })
	reg.Register("noop", func() connectors.Config { return &noop.Config{} })
	ad.Register(reg)
	entra.Register(reg)
	csv.Register(reg)
	rest.Register(reg)
	scim.Register(reg)
	// Further connector types register here as they land, one line each.
	return reg
}
