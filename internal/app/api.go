package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/hrsync"
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
	srv.EraseLimit = p.EraseLimit
	srv.Reconcile = p.reconciler().Run
	if p.Metrics != nil {
		m := hrsync.NewMetrics()
		if err := p.Metrics.Register(m.Collectors()...); err != nil {
			p.Log.Warn("hr sync: metrics not registered", "err", err)
		} else {
			srv.HRSyncHeld = func(source string) { m.Held.WithLabelValues(source).Inc() }
		}
	}
	go p.reconcileOnSchedule(ctx, p.Reconcile)
	srv.Reviews = p.reviewer()
	go p.reviewOnSchedule(ctx)
	go p.catchUpChanges(ctx)
	go p.verifyOnSchedule(ctx, srv, p.VerifyEvery)
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

// Reload makes the local policy files the catalogue in force: it stores
// them in the ledger, audited, and tells every replica to follow; it
// answers with what each replica then holds. On errors the catalogue in
// force stays.
func (p *Parts) Reload(ctx context.Context, actor string) (api.ReloadResult, error) {
	old := p.Engine.Catalogue()
	cat, _, err := p.storeLocal(ctx, actor, true)
	if err != nil {
		p.Log.Error("policy reload refused; the catalogue in force stays", "asked_by", actor, "catalogue", short(old.Version), "err", err)
		return api.ReloadResult{}, err
	}
	p.Log.Info("policy reloaded", "asked_by", actor, "from", short(old.Version), "to", short(cat.Version), "systems", len(cat.Systems))
	res := api.ReloadResult{Version: cat.Version}
	if res.Replicas, err = p.askReplicas(ctx); err != nil {
		p.Log.Warn("policy reload: cannot ask the replicas what they hold", "err", err)
	}
	return res, nil
}

// ReloadOnSIGHUP reloads, on every SIGHUP until the returned stop is
// called, the principals (when LoadPrincipals is set; a file that does not
// load is logged and the principals in force stay) and then the catalogue,
// as `tilgang policy reload` does (audited, actor "sighup"; an invalid
// catalogue is logged and the one in force stays).
func (p *Parts) ReloadOnSIGHUP(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range hup {
			p.ReloadPrincipals()
			p.Reload(ctx, "sighup") //nolint:errcheck // logged by Reload
		}
	}()
	return func() { signal.Stop(hup); close(hup); <-done }
}

// ReloadPrincipals reads the principals anew through LoadPrincipals and
// verifies messages against them from then on. On an error the principals
// in force stay, and it is logged.
func (p *Parts) ReloadPrincipals() {
	if p.LoadPrincipals == nil {
		return
	}
	ps, err := p.LoadPrincipals()
	if err != nil {
		p.Log.Error("principals reload refused; the principals in force stay", "err", err)
		return
	}
	p.Engine.SetPrincipals(ps)
	p.Log.Info("principals reloaded", "principals", ps.Len())
}
