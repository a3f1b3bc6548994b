// Package manual is the connector for fagsystemer without an API: every
// operation becomes a task for the system's administrators (systemansvarlig),
// published as task.manual, and completed with `tilgang task done|failed`.
// The executor sees the Tasker capability and never calls the methods below.
package manual

import (
	"context"
	"log/slog"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Config of a manual instance has no settings:
//
//	type: manual
type Config struct{}

func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Connector{}, nil
}

var (
	_ connectors.Connector = Connector{}
	_ connectors.Tasker    = Connector{}
)

// Connector is a manual instance.
type Connector struct{}

func (Connector) Manual() bool { return true }

func (Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	return connectors.Ref{"id": p.ID}, nil
}

func notByMachine() error {
	return tilgang.Errorf(tilgang.Internal, "manual: operations are done by people, not called")
}

func (Connector) EnsureAccount(context.Context, connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	return nil, nil, notByMachine()
}
func (Connector) Disable(context.Context, connectors.Account) error        { return notByMachine() }
func (Connector) Enable(context.Context, connectors.Account) error         { return notByMachine() }
func (Connector) Grant(context.Context, connectors.Account, string) error  { return notByMachine() }
func (Connector) Revoke(context.Context, connectors.Account, string) error { return notByMachine() }
func (Connector) Close() error                                             { return nil }
