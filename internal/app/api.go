package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
)

// serveAPI starts the signed read and admin service; it stops when ctx ends.
func (p *Parts) serveAPI(ctx context.Context, pub *publish.Publisher) error {
	srv := &api.Server{
		Ledger:     p.Ledger,
		Catalogue:  p.Engine.Catalogue,
		Principals: func() *principals.Set { return p.Engine.Principals() },
		Verify:     pub.Verify,
		Reload:     p.Reload,
		Now:        p.Engine.Now,
		Log:        p.Log,
	}
	srv.Serving = make(chan struct{})
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ctx, p.NC) }()
	// Ready only once the server has subscribed: a call right after start
	// finds it. An immediate error (bad connection) shows here, later ones
	// end with ctx.
	select {
	case <-srv.Serving:
		return nil
	case err := <-errs:
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("api: %w", err)
	}
}

// Reload loads the catalogue again; on errors the one in force stays.
func (p *Parts) Reload(ctx context.Context, actor string) (string, error) {
	old := p.Engine.Catalogue()
	cat, err := policy.Load(p.PoliciesDir, p.Connectors.Names())
	if err != nil {
		p.Log.Error("policy reload refused; the catalogue in force stays", "asked_by", actor, "catalogue", old.Version, "err", err)
		return old.Version, err
	}
	// The faggruppe's decision is recorded: who asked, from which version to which.
	tx, err := p.Ledger.Begin(ctx)
	if err != nil {
		return old.Version, err
	}
	tx.Audit(ledger.AuditEntry{At: p.Engine.Now().UTC(), Kind: "policy.reload", Actor: actor, Catalogue: cat.Version,
		Details: map[string]string{"from": old.Version, "systems": fmt.Sprint(len(cat.Systems))}})
	if err := tx.Commit(); err != nil {
		return old.Version, err
	}
	p.Engine.SetCatalogue(cat)
	p.Log.Info("policy reloaded", "asked_by", actor, "from", old.Version, "to", cat.Version, "systems", len(cat.Systems))
	return cat.Version, nil
}

// ReloadOnSIGHUP reloads the catalogue on every SIGHUP, as `tilgang policy
// reload` does (audited, actor "sighup"; an invalid catalogue is logged and
// the one in force stays), until the returned stop is called.
func (p *Parts) ReloadOnSIGHUP(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range hup {
			p.Reload(ctx, "sighup") //nolint:errcheck // logged by Reload
		}
	}()
	return func() { signal.Stop(hup); close(hup); <-done }
}
