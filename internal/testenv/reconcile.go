package testenv

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// Reconcile runs reconciliation through the API as the dev principal (an
// operator), as `tilgang reconcile` does.
func (e *Env) Reconcile(args api.ReconcileArgs) ([]reconcile.Report, error) {
	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: 2 * time.Minute}
	var reps []reconcile.Report
	err := c.Call(context.Background(), api.MethodReconcile, args, &reps)
	return reps, err
}
