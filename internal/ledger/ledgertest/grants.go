package ledgertest

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func grant(id, person, system, role string, state tilgang.GrantState) ledger.Grant {
	return ledger.Grant{ID: id, Person: person, System: system, Role: role, State: state, RequestID: "r-" + id,
		Requester: "1547-10001", Stage: 1, StagePrincipal: "1547-20001", Approvers: []string{"1547-10001"},
		ValidUntil: tilgang.Date{Y: 2026, M: 1, D: 31}, RevokeCause: "",
		Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker,OU=Groups,DC=ror,DC=test"}},
		Catalogue:    "cat-1", Created: t0, Updated: t0}
}

// stateEntry is the chain row that goes with writing g.
func stateEntry(g ledger.Grant, from tilgang.GrantState) ledger.AuditEntry {
	return ledger.AuditEntry{At: g.Updated, Kind: "grant.state", Person: g.Person, Actor: "1547-10001", System: g.System,
		Role: g.Role, GrantID: g.ID, RequestID: g.RequestID, From: string(from), To: string(g.State), Catalogue: g.Catalogue}
}

// putGrants inserts grants, each with its chain row, in one transaction.
func putGrants(t *testing.T, l ledger.Ledger, gs ...ledger.Grant) {
	t.Helper()
	inTx(t, l, func(tx ledger.Tx) {
		for _, g := range gs {
			require.NoError(t, tx.InsertGrant(g))
			tx.Audit(stateEntry(g, ""))
		}
	})
}

func ids(gs []ledger.Grant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.ID)
	}
	sort.Strings(out)
	return out
}

var grantTests = []test{
	{"RoundTrip", func(t *testing.T, l ledger.Ledger) {
		want := ledger.Grant{ID: "g1", Person: "1547-10234", System: "gerica", Role: "bruker", State: tilgang.StateProvisioning,
			RequestID: "r1", Requester: "1547-10001", Stage: 2, StagePrincipal: "1547-20002",
			Approvers: []string{"1547-10001", "1547-20001"}, ValidUntil: tilgang.Date{Y: 2026, M: 2, D: 28},
			RevokeAfter: true, RevokeCause: "leaver",
			Entitlements: map[string][]string{
				"ad":     {"CN=APP-Gerica-Bruker,OU=Groups,DC=ror,DC=test", "CN=APP-Gerica-Les,OU=Groups,DC=ror,DC=test"},
				"manual": {"Gerica: Bruker"},
			},
			Catalogue: "cat-7", Created: t0, Updated: t0.Add(90*time.Minute + 7*time.Millisecond)}
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertGrant(want))
			tx.Audit(stateEntry(want, ""))
			got, err := tx.Grant("g1")
			require.NoError(t, err)
			require.Equal(t, &want, got)
			// Marked to be revoked once provisioning finishes: on its way
			// out, so not the open grant a new request would attach to.
			got, err = tx.OpenGrant(want.Person, want.System, want.Role)
			require.NoError(t, err)
			require.Nil(t, got)
		})
		got, err := l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.Equal(t, &want, got)

		// Every field changes on update.
		from := want.State
		want.State, want.Stage, want.StagePrincipal = tilgang.StateActive, 3, ""
		want.Approvers = append(want.Approvers, "1547-20002")
		want.ValidUntil, want.RevokeAfter, want.RevokeCause = tilgang.Date{}, false, ""
		want.Entitlements = map[string][]string{"entra": {"0f3c2d1e-group"}}
		want.Catalogue, want.Updated = "cat-8", t0.Add(2*time.Hour)
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.UpdateGrant(want))
			tx.Audit(stateEntry(want, from))
		})
		got, err = l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.Equal(t, &want, got)
	}},
	{"MillisecondPrecision", func(t *testing.T, l ledger.Ledger) {
		g := grant("g1", "p1", "gerica", "bruker", tilgang.StateActive)
		g.Created = t0.Add(456_789 * time.Nanosecond) // below a millisecond
		putGrants(t, l, g)
		got, err := l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.WithinDuration(t, g.Created, got.Created, time.Millisecond)
		require.Zero(t, got.Created.Nanosecond()%int(time.Millisecond), "stored at millisecond precision")
	}},
	{"Missing", func(t *testing.T, l ledger.Ledger) {
		got, err := l.Grant(t.Context(), "nothing")
		require.NoError(t, err)
		require.Nil(t, got)
		tx := begin(t, l)
		defer tx.Rollback()
		got, err = tx.Grant("nothing")
		require.NoError(t, err)
		require.Nil(t, got)
		got, err = tx.OpenGrant("p", "s", "r")
		require.NoError(t, err)
		require.Nil(t, got)
		require.Error(t, tx.UpdateGrant(grant("nothing", "p", "s", "r", tilgang.StateActive)), "updating a missing grant")
	}},
	{"RevokingDoesNotBlockANewGrant", func(t *testing.T, l ledger.Ledger) {
		for _, state := range []tilgang.GrantState{tilgang.StateRevoking, tilgang.StateRevokeFailed} {
			old := grant("old-"+string(state), "p-"+string(state), "gerica", "bruker", state)
			putGrants(t, l, old)
			tx := begin(t, l)
			got, err := tx.OpenGrant(old.Person, "gerica", "bruker")
			require.NoError(t, err)
			require.Nil(t, got, "a %s grant is on its way out, not the open one", state)
			require.NoError(t, tx.Rollback())
			putGrants(t, l, grant("new-"+string(state), old.Person, "gerica", "bruker", tilgang.StateProvisioning))
			tx = begin(t, l)
			got, err = tx.OpenGrant(old.Person, "gerica", "bruker")
			require.NoError(t, err)
			require.Equal(t, "new-"+string(state), got.ID)
			open, err := tx.GrantsOf(old.Person)
			require.NoError(t, err)
			require.Len(t, open, 2, "both are open (not final)")
			require.NoError(t, tx.Rollback())
		}
	}},
	{"OneOpenPerRole", func(t *testing.T, l ledger.Ledger) {
		first := grant("g1", "p1", "gerica", "bruker", tilgang.StatePendingApproval)
		putGrants(t, l, first)

		tx := begin(t, l)
		err := tx.InsertGrant(grant("g2", "p1", "gerica", "bruker", tilgang.StateProvisioning))
		require.Error(t, err, "a second open grant for the same (person, system, role)")
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
		require.NoError(t, tx.Rollback())

		// Final grants do not count, and neither do other roles or people.
		putGrants(t, l,
			grant("g3", "p1", "gerica", "bruker", tilgang.StateDenied),
			grant("g4", "p1", "gerica", "admin", tilgang.StatePendingApproval),
			grant("g5", "p2", "gerica", "bruker", tilgang.StateActive))

		// Once the first is final, a new open one is allowed.
		inTx(t, l, func(tx ledger.Tx) {
			g := first
			g.State, g.Updated = tilgang.StateRevoked, t0.Add(time.Hour)
			require.NoError(t, tx.UpdateGrant(g))
			tx.Audit(stateEntry(g, first.State))
		})
		second := grant("g2", "p1", "gerica", "bruker", tilgang.StateProvisioning)
		second.Created = t0.Add(2 * time.Hour)
		putGrants(t, l, second)

		tx = begin(t, l)
		defer tx.Rollback()
		got, err := tx.OpenGrant("p1", "gerica", "bruker")
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Equal(t, "g2", got.ID)

		// A final grant may not be brought back beside the open one.
		g := first
		g.State = tilgang.StateActive
		err = tx.UpdateGrant(g)
		require.Error(t, err)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
	}},
	{"GrantsOfOpenOnly", func(t *testing.T, l ledger.Ledger) {
		a := grant("g-a", "p1", "gerica", "bruker", tilgang.StateActive)
		b := grant("g-b", "p1", "visma", "laerer", tilgang.StatePendingTraining)
		b.Created = t0.Add(-time.Hour) // older: listed first
		putGrants(t, l, a, b,
			grant("g-c", "p1", "p360", "saksbehandler", tilgang.StateRevoked),
			grant("g-d", "p1", "gerica", "bruker", tilgang.StateDenied),
			grant("g-e", "p1", "gerica", "admin", tilgang.StateExpired),
			grant("g-f", "p1", "gerica", "les", tilgang.StateCancelled),
			grant("g-g", "p1", "gerica", "leder", tilgang.StateRevokeFailed),
			grant("g-h", "p2", "gerica", "bruker", tilgang.StateActive))
		tx := begin(t, l)
		defer tx.Rollback()
		got, err := tx.GrantsOf("p1")
		require.NoError(t, err)
		require.Equal(t, []string{"g-a", "g-b", "g-g"}, ids(got))
		none, err := tx.GrantsOf("nobody")
		require.NoError(t, err)
		require.Empty(t, none)
	}},
	{"Filter", func(t *testing.T, l ledger.Ledger) {
		putGrants(t, l,
			grant("g1", "p1", "gerica", "bruker", tilgang.StateActive),
			grant("g2", "p1", "visma", "laerer", tilgang.StateRevoked),
			grant("g3", "p2", "gerica", "admin", tilgang.StatePendingApproval),
			grant("g4", "p3", "p360", "saksbehandler", tilgang.StateActive))
		for _, tc := range []struct {
			name string
			f    ledger.GrantFilter
			want []string
		}{
			{"everything", ledger.GrantFilter{}, []string{"g1", "g2", "g3", "g4"}},
			{"person", ledger.GrantFilter{Person: "p1"}, []string{"g1", "g2"}},
			{"system", ledger.GrantFilter{System: "gerica"}, []string{"g1", "g3"}},
			{"person and system", ledger.GrantFilter{Person: "p1", System: "gerica"}, []string{"g1"}},
			{"systems scope", ledger.GrantFilter{Systems: []string{"gerica"}}, []string{"g1", "g3"}},
			{"persons scope", ledger.GrantFilter{Persons: []string{"p3", "p9"}}, []string{"g4"}},
			{"either scope", ledger.GrantFilter{Systems: []string{"visma"}, Persons: []string{"p2"}}, []string{"g2", "g3"}},
			{"empty systems scope", ledger.GrantFilter{Systems: []string{}}, nil},
			{"empty persons scope", ledger.GrantFilter{Persons: []string{}}, nil},
			{"empty scopes", ledger.GrantFilter{Systems: []string{}, Persons: []string{}}, nil},
			{"empty scope with a person", ledger.GrantFilter{Person: "p1", Systems: []string{}}, nil},
			{"person outside the scope", ledger.GrantFilter{Person: "p1", Persons: []string{"p2"}}, nil},
			{"open only", ledger.GrantFilter{OpenOnly: true}, []string{"g1", "g3", "g4"}},
			{"person open only", ledger.GrantFilter{Person: "p1", OpenOnly: true}, []string{"g1"}},
			{"scope open only", ledger.GrantFilter{Systems: []string{"gerica", "visma"}, OpenOnly: true}, []string{"g1", "g3"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := l.Grants(t.Context(), tc.f)
				require.NoError(t, err)
				if tc.want == nil {
					require.Empty(t, got)
					return
				}
				require.Equal(t, tc.want, ids(got))
			})
		}
	}},
}
