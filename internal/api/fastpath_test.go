package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgerseed"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// inboxOverAllOpen is the inbox as it was read before the ledger had
// indexed reads for it: every open grant, judged one by one. The indexed
// inbox must answer exactly what it answers.
func (s *Server) inboxOverAllOpen(ctx context.Context, v *viewer) (Inbox, error) {
	out := Inbox{Approvals: []Approval{}, Training: []Grant{}, Tasks: []Task{}}
	gs, err := s.Ledger.Grants(ctx, ledger.GrantFilter{OpenOnly: true})
	if err != nil {
		return out, err
	}
	for i := range gs {
		g := &gs[i]
		if g.Person == v.actor {
			continue
		}
		switch g.State {
		case tilgang.StatePendingApproval:
			mine := g.StagePrincipal == v.actor || (g.StagePrincipal == "" && v.administers(g.System))
			if mine && g.Requester != v.actor && !slices.Contains(g.Approvers, v.actor) {
				a := Approval{Grant: grantOf(g)}
				r, err := s.Ledger.Request(ctx, g.RequestID)
				if err != nil {
					return out, err
				}
				if r != nil {
					a.Reason = r.Reason
				}
				out.Approvals = append(out.Approvals, a)
			}
		case tilgang.StatePendingTraining:
			if v.administers(g.System) {
				out.Training = append(out.Training, grantOf(g))
			}
		}
	}
	sort.SliceStable(out.Approvals, func(i, j int) bool { return out.Approvals[i].Updated.Before(out.Approvals[j].Updated) })
	sort.SliceStable(out.Training, func(i, j int) bool { return out.Training[i].Updated.Before(out.Training[j].Updated) })
	tasks, err := s.waitingTasks(ctx, v, func(_ *ledger.Operation, _ *ledger.Grant, systems []string) (bool, error) {
		return slices.ContainsFunc(systems, v.administers), nil
	})
	if err != nil {
		return out, err
	}
	out.Tasks = append(out.Tasks, tasks...)
	var ids []string
	for _, a := range out.Approvals {
		ids = append(ids, a.Person, a.Requester)
	}
	for _, g := range out.Training {
		ids = append(ids, g.Person)
	}
	for _, t := range out.Tasks {
		ids = append(ids, t.Person)
	}
	out.Names, err = s.names(ctx, ids)
	return out, err
}

// seededServer is an API server (not serving) over a seeded municipality.
func seededServer(t *testing.T, l ledger.Ledger, o ledgerseed.Options) (*Server, *ledgerseed.World) {
	t.Helper()
	ctx := context.Background()
	w, err := ledgerseed.Seed(ctx, l, o)
	require.NoError(t, err)
	fsys := fstest.MapFS{}
	for name, b := range w.Files {
		fsys[name] = &fstest.MapFile{Data: b}
	}
	cat, err := policy.LoadFS(fsys, []string{"manual"})
	require.NoError(t, err)
	set, err := principals.New(nil)
	require.NoError(t, err)
	return &Server{Ledger: l, Catalogue: func() *policy.Catalogue { return cat }, Principals: func() *principals.Set { return set }}, w
}

// The indexed inbox answers every person of a municipality what the inbox
// over every open grant answered: the same approvals (reasons too),
// training and tasks in the same order. Besides the seeded grants, the
// administrators of gerica meet the grants they may not decide: their own,
// one they requested, one they approved a stage of.
func TestInboxFastPathAnswersAsBefore(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var (
				l   *sqlledger.Store
				err error
			)
			if backend == "postgres" {
				l, err = sqlledger.OpenPostgres(ctx, pgtest.Schema(t), 4)
			} else {
				l, err = sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
			}
			require.NoError(t, err)
			defer l.Close()
			inboxAsBefore(t, l)
		})
	}
}

func inboxAsBefore(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	srv, w := seededServer(t, l, ledgerseed.Options{People: 400, Grants: 1600, Pending: 160, Training: 40, Tasks: 30, Systems: 8})
	admin, other := w.Admins["gerica"][0], w.Admins["gerica"][1]
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	for i, g := range []ledger.Grant{
		{ID: "own", Person: admin, Requester: w.Manager[admin]},
		{ID: "asked", Person: w.People[40], Requester: admin},
		{ID: "approved", Person: w.People[41], Requester: w.People[41], Stage: 1, Approvers: []string{admin}},
		{ID: "named", Person: w.People[42], Requester: w.People[42], StagePrincipal: admin},
		{ID: "other-asked", Person: w.People[43], Requester: other},
	} {
		g.System, g.Role, g.State = "gerica", "spesial", tilgang.StatePendingApproval
		g.RequestID = ledgerseed.RequestID(g.ID)
		g.Created, g.Updated = now, now.Add(-time.Duration(i)*time.Hour)
		require.NoError(t, tx.InsertGrant(g))
		tx.Audit(ledger.AuditEntry{At: g.Updated, Kind: "grant.state", Person: g.Person, System: g.System, Role: g.Role,
			GrantID: g.ID, To: string(g.State), Details: ledger.GrantDetails(g, nil)})
	}
	require.NoError(t, tx.Commit())
	rep, err := l.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, "the seeded ledger verifies: %s", rep.Problem)

	// Everyone who may have something waiting (managers, administrators,
	// whoever a stage names) and every fifth of the rest.
	viewers := []string{"revisor", "nobody"}
	for i, p := range w.People {
		if i%5 == 0 || i%20 == 1 || i%20 == 3 || i%10 == 1 || i%10 == 3 || p == w.Manager[w.People[min(i*20, len(w.People)-1)]] {
			viewers = append(viewers, p)
		}
	}
	for _, admins := range w.Admins {
		viewers = append(viewers, admins...)
	}
	seen := map[string]int{}
	for _, actor := range viewers {
		v := srv.viewer(ctx, actor)
		fast, err := srv.inbox(ctx, v, nil)
		require.NoError(t, err)
		slow, err := srv.inboxOverAllOpen(ctx, srv.viewer(ctx, actor))
		require.NoError(t, err)
		a, err := json.Marshal(fast)
		require.NoError(t, err)
		b, err := json.Marshal(slow)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(a), "the inbox of %s", actor)
		in := fast.(Inbox)
		seen["approvals"] += len(in.Approvals)
		seen["training"] += len(in.Training)
		seen["tasks"] += len(in.Tasks)
		if len(in.Approvals) > 0 && in.Approvals[0].Reason != "" {
			seen["reasons"]++
		}
	}
	// The comparison means something only if the inboxes hold something.
	require.Greater(t, seen["approvals"], 100, "%v", seen)
	require.Greater(t, seen["training"], 20, "%v", seen)
	require.Greater(t, seen["tasks"], 20, "%v", seen)
	require.Greater(t, seen["reasons"], 10, "%v", seen)

	var in Inbox
	got, err := srv.inbox(ctx, srv.viewer(ctx, admin), nil)
	require.NoError(t, err)
	in = got.(Inbox)
	ids := []string{}
	for _, a := range in.Approvals {
		if a.Role == "spesial" {
			ids = append(ids, a.ID)
		}
	}
	require.Equal(t, []string{"other-asked", "named"}, ids, "not their own, nor one they asked for or approved; oldest first")
}
