package rest

import (
	"slices"
	"testing"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/reconcile/reconciletest"
)

// TestReconcileScenario runs the reconciliation acceptance scenario
// against a rest instance with reads, through the worker: drift made out
// of band at the fake fagsystem is found with its kind and mended by
// --fix, and a second account with the same employee number is reported
// as disputed.
func TestReconcileScenario(t *testing.T) {
	f := newPersonal(t)
	r := reading(t, personalConfig(t, f, 3, 2))
	first := func(p tilgang.Person) *puser {
		f.mu.Lock()
		defer f.mu.Unlock()
		us := f.byEmployee(p.ID)
		if len(us) == 0 {
			return nil
		}
		return us[0]
	}
	reconciletest.Run(t, reconciletest.Target{Name: "profil", Conn: r, Main: "Profil-Bruker", Held: "Profil-Leder", IDPrefix: "1547-9",
		Duplicate: func(t *testing.T, p tilgang.Person) { f.addUser(p.ID, "dublett", true) },
		Member: func(t *testing.T, p tilgang.Person, ent string) bool {
			u := first(p)
			f.mu.Lock()
			defer f.mu.Unlock()
			return u != nil && slices.Contains(f.members[ent], u.ID)
		},
		Enabled: func(t *testing.T, p tilgang.Person) bool {
			u := first(p)
			f.mu.Lock()
			defer f.mu.Unlock()
			return u != nil && u.Active
		},
	})
}
