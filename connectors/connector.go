// Package connectors is the contract between tilgang's executor and the
// systems it provisions into: Active Directory, Entra ID, SCIM and REST
// fagsystemer, CSV files, manual tasks. One package per connector type lives
// below this one; the core imports none of them, only this contract and the
// registry that maps a type name to its constructor.
//
// Every method is idempotent by contract: creating an account that already
// exists adopts it, granting a membership already held and revoking one
// already absent are success. The executor may call any method again after a
// crash, so an implementation must never produce a second effect.
package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/ror-ikt/tilgang"
)

// Ref is what a connector resolved about the account at its target
// (username, UPN, DN, object id, ...). The executor stores it before the
// first call that may create something, so a retry after a crash finds the
// account it made instead of making a second one.
type Ref map[string]string

// Account is the person an operation is about, with what was resolved.
type Account struct {
	Person tilgang.Person
	Ref    Ref
	// Disabled asks EnsureAccount to create the account disabled (the
	// employment has not started yet); an enable follows on the start date.
	Disabled bool
}

// Credential is an initial password a connector generated for a new
// account. It is sealed to its recipient at once and never stored in clear.
type Credential struct {
	Username string
	Secret   []byte
}

// Connector is the base every connector instance implements.
//
// Errors are *tilgang.Error: Unavailable and Throttled are retried by the
// executor with backoff, Invalid, Denied, NotFound and Conflict fail the
// operation at once, anything unclassified counts as Internal (retried,
// bounded).
type Connector interface {
	// Resolve computes the target values an account of the person will have
	// (for example a free username), looking at the target as needed. It
	// changes nothing at the target. prior is what an earlier attempt stored.
	Resolve(ctx context.Context, p tilgang.Person, prior Ref) (Ref, error)
	// EnsureAccount finds (by employee id, then by the resolved values) or
	// creates the account, updates names and attributes, and returns the
	// final Ref. A new account may come with an initial credential.
	EnsureAccount(ctx context.Context, a Account) (Ref, *Credential, error)
	Disable(ctx context.Context, a Account) error
	Enable(ctx context.Context, a Account) error
	Grant(ctx context.Context, a Account, entitlement string) error
	Revoke(ctx context.Context, a Account, entitlement string) error
	Close() error
}

// Lister lists the members of an entitlement, for reconciliation.
type Lister interface {
	ListMembers(ctx context.Context, entitlement string) ([]Ref, error)
}

// Bulk changes many accounts' membership of one entitlement at once (Graph's
// members@odata.bind and $batch, say). The result has one error per
// account, nil for success; each is judged on its own.
type Bulk interface {
	GrantMany(ctx context.Context, accounts []Account, entitlement string) []error
	RevokeMany(ctx context.Context, accounts []Account, entitlement string) []error
}

// Checker looks an entitlement up at the target, for `tilgang config check
// --targets`: a warning says what is wrong with it (missing, synced from
// elsewhere and so not writable here); an error says the target could not
// be asked.
type Checker interface {
	CheckEntitlement(ctx context.Context, entitlement string) (warning string, err error)
}

// Limited is a connector instance that can serve only so many calls at
// once, as the ad connector's connection pool does. The executor runs at
// most MaxInFlight of the instance's calls at a time; an operation beyond
// that waits for its turn before its call's timeout starts, so waiting
// costs neither the call's time nor an attempt. A connector without it is
// called by as many operations at once as the executor has workers.
type Limited interface {
	MaxInFlight() int
}

// Tasker marks a connector whose operations are done by people: the
// executor does not call the Connector methods but opens a manual task
// (task.manual) and waits for `tilgang task done|failed`.
type Tasker interface {
	Manual() bool
}

// Config builds a connector instance from its configuration. Open adds
// connector=<name> to the logger it is given, so callers pass theirs as it
// is (the attribute twice is a repeated key in a JSON log line).
type Config interface {
	Open(name string, logger *slog.Logger) (Connector, error)
}

// Defaulter is a Config whose unset settings have defaults. WithDefaults
// is the config Open runs with: a copy with every default filled in, so a
// printed config (`tilgang config check`) shows the values in force, from
// the same code that applies them.
type Defaulter interface {
	WithDefaults(name string) Config
}

// Registry maps a connector type name to a function returning an empty
// Config for the YAML decoder to fill, so the core imports no connector.
type Registry struct {
	mu    sync.RWMutex
	types map[string]func() Config
}

// Register adds a connector type; a second registration of a name panics.
func (r *Registry) Register(typ string, newConfig func() Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types == nil {
		r.types = map[string]func() Config{}
	}
	if _, dup := r.types[typ]; dup {
		panic(fmt.Sprintf("connectors: type %q registered twice", typ))
	}
	r.types[typ] = newConfig
}

// New returns an empty Config of the named type.
func (r *Registry) New(typ string) (Config, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.types[typ]
	if !ok {
		return nil, tilgang.Errorf(tilgang.Invalid, "unknown connector type %q (known: %v)", typ, r.typesLocked())
	}
	return f(), nil
}

// Types lists the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.typesLocked()
}

func (r *Registry) typesLocked() []string {
	var names []string
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Set is the connector instances a worker runs, by instance name.
type Set map[string]Connector

// Names lists the instance names, sorted.
func (s Set) Names() []string {
	var names []string
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close closes every instance.
func (s Set) Close() error {
	var first error
	for _, c := range s {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
