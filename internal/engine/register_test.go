package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// The access register (DESIGN.md "Access reviews and the access
// register") after two weeks of grants, revokes, a leaver, a revoke that
// failed and an expiry, all through the engine: for every day, some
// instants and some periods, report.access answers what an independent
// replay of the chain's grant.state rows (read through the API's audit,
// up to the end of the time asked about) says was held then. An erasure
// afterwards leaves the register whole, with ids where the names went.
// And each may read only the registers the visibility rules allow.

// registerAPI serves the API over the harness's ledger on an embedded
// NATS, on the harness's clock, to the principals it returns keys of:
// revisor (an auditor), emp, emp2, mgr and kasseA1.
func registerAPI(t *testing.T, h *harness) func(actor string) *api.Client {
	t.Helper()
	ns := testenv.NATS(t, t.TempDir())
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	keys := map[string]nkeys.KeyPair{}
	var ps []principals.Principal
	for _, id := range []string{"revisor", emp, emp2, mgr, kasseA1} {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		keys[id] = kp
		p := principals.Principal{ID: id, Kind: principals.KindPerson, Key: pub}
		if id == "revisor" {
			p.Kind, p.Capabilities = principals.KindService, []string{tilgang.CapAuditor}
		}
		ps = append(ps, p)
	}
	set, err := principals.New(ps)
	require.NoError(t, err)
	now := func() time.Time { return h.now }
	srv := &api.Server{Ledger: h.led, Catalogue: h.eng.Catalogue, Principals: func() *principals.Set { return set }, Now: now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	serving := make(chan struct{})
	srv.Serving = serving
	go func() { done <- srv.Serve(ctx, nc) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	<-serving
	return func(actor string) *api.Client {
		return &api.Client{NC: nc, Key: keys[actor], Actor: actor, Timeout: 10 * time.Second, Now: now}
	}
}

// replayed is one grant's time at its target, as the replay read it.
type replayed struct {
	person, system, role string
	from, until          time.Time // until zero: no end seen
	requester            string
	approvers            []string
}

// replay reads the chain's grant.state rows up to and including upTo, in
// chain order, and returns, by grant id, when each became active (with the
// requester and approvers that row chained) and, if it did by upTo, when
// it was revoked or expired there.
func replay(t *testing.T, l ledger.Reader, upTo time.Time) map[string]*replayed {
	t.Helper()
	out := map[string]*replayed{}
	require.NoError(t, ledger.AuditPages(context.Background(), l, ledger.AuditFilter{}, func(rows []ledger.AuditRow) error {
		for _, row := range rows {
			r := row.Entry
			if r.Kind != "grant.state" || r.At.After(upTo) {
				continue
			}
			switch r.To {
			case "active":
				var approvers []string
				if a := r.Details[ledger.GrantApprovers]; a != "" {
					approvers = strings.Split(a, ",")
				}
				out[r.GrantID] = &replayed{person: r.Person, system: r.System, role: r.Role, from: r.At,
					requester: r.Details[ledger.GrantRequester], approvers: approvers}
			case "revoked", "expired":
				if g := out[r.GrantID]; g != nil {
					g.until = r.At
				}
			}
		}
		return nil
	}))
	return out
}

// readRegister walks every page of the register, two entries a page.
func readRegister(t *testing.T, c *api.Client, a api.AccessArgs) ([]api.AccessEntry, map[string]string, error) {
	t.Helper()
	a.Limit = 2
	var (
		out   []api.AccessEntry
		names = map[string]string{}
	)
	err := c.AccessRegister(context.Background(), a, func(p api.AccessPage) error {
		out = append(out, p.Entries...)
		for k, v := range p.Names {
			names[k] = v
		}
		return nil
	})
	return out, names, err
}

func TestAccessRegisterAgainstReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, policySystems).join()
	day := func(d, hour int) time.Time { return time.Date(2025, 3, d, hour, 0, 0, 0, tilgang.Oslo) }

	// Monday 10 March: four grants become active; lonn/fast lasts 10 days.
	gA := h.toActive(emp, mgr, "kasse", "bruker")
	gB := h.toActive(emp2, mgr, "kasse", "bruker")
	gC := h.toActive(emp, mgr, "sak", "les")
	_, rid, gF := h.request(emp, mgr, "lonn", "fast")
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gF))
	// emp2's gerica grant waits for training, and never gets it.
	gG := h.granted(emp2, mgr, "gerica", "bruker")

	// Tuesday: kasse/leder through two stages.
	h.now = day(11, 12)
	_, rid, gD := h.request(emp, mgr, "kasse", "leder")
	require.Equal(t, engine.Accepted, h.decide(emp, mgrMgr, rid, "approve"))
	require.Equal(t, engine.Accepted, h.decide(emp, kasseA1, rid, "approve"))
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gD))

	// Wednesday: gA is revoked.
	h.now = day(12, 9)
	out, _ := h.revoke(emp, mgr, "kasse", "bruker")
	require.Equal(t, engine.Accepted, out)
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(gA))

	// Thursday: emp2 left, backdated to Wednesday.
	h.now = day(13, 15)
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp2, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 12})))
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(gB))
	require.Equal(t, tilgang.StateCancelled, h.state(gG))

	// Friday: the revoke of gC fails at the target: revoke_failed, held.
	h.now = day(14, 10)
	h.fail = func(op ledger.Operation) error {
		if op.Kind == ledger.KindRevoke && op.Entitlement == sakLes {
			return permanent
		}
		return nil
	}
	out, _ = h.revoke(emp, mgr, "sak", "les")
	require.Equal(t, engine.Accepted, out)
	h.run()
	h.fail = nil
	require.Equal(t, tilgang.StateRevokeFailed, h.state(gC))

	// Monday 17: kasse/bruker again, a new grant.
	h.now = day(17, 10)
	gE := h.toActive(emp, mgr, "kasse", "bruker")
	require.NotEqual(t, gA, gE)

	// Friday 21, just after midnight: gF, valid until the 20th, expires.
	h.now = day(21, 0).Add(time.Second)
	ran := h.run()
	require.Equal(t, tilgang.StateExpired, h.state(gF), "valid until %s, ran %v, ops %+v", h.grant(gF).ValidUntil, kinds(ran), h.ops(gF))
	h.now = day(22, 10)

	client := registerAPI(t, h)
	revisor := client("revisor")
	full := replay(t, h.led, h.now)
	for _, g := range []string{gA, gB, gC, gD, gE, gF} {
		require.Contains(t, full, g, "the replay sees every grant that became active")
	}
	require.NotContains(t, full, gG)

	type ask struct {
		name     string
		args     api.AccessArgs // without system or person
		from, to time.Time      // the period it means
	}
	var asks []ask
	for d := 9; d <= 22; d++ {
		date := fmt.Sprintf("2025-03-%02d", d)
		asks = append(asks, ask{name: "at " + date, args: api.AccessArgs{At: date}, from: day(d, 0), to: day(d+1, 0).Add(-time.Millisecond)})
	}
	activeAt := full[gD].from
	for _, at := range []time.Time{activeAt, activeAt.Add(-time.Millisecond), full[gA].until, full[gA].until.Add(-time.Millisecond),
		full[gF].until, day(20, 23)} {
		s := at.Format(time.RFC3339Nano)
		asks = append(asks, ask{name: "at " + s, args: api.AccessArgs{At: s}, from: at, to: at})
	}
	for _, p := range [][2]int{{11, 13}, {15, 22}, {10, 10}, {14, 16}, {21, 21}} {
		f, to := fmt.Sprintf("2025-03-%02d", p[0]), fmt.Sprintf("2025-03-%02d", p[1])
		asks = append(asks, ask{name: "from " + f + " to " + to, args: api.AccessArgs{From: f, To: to}, from: day(p[0], 0), to: day(p[1]+1, 0).Add(-time.Millisecond)})
	}
	asks = append(asks, ask{name: "now", from: h.now, to: h.now})

	scopes := []api.AccessArgs{{System: "kasse"}, {System: "sak"}, {System: "lonn"}, {System: "gerica"}, {Person: emp}, {Person: emp2}}
	check := func(t *testing.T) {
		nonEmpty := 0
		for _, a := range asks {
			upTo := replay(t, h.led, a.to)
			for _, scope := range scopes {
				args := a.args
				args.System, args.Person = scope.System, scope.Person
				t.Run(a.name+" "+scope.System+scope.Person, func(t *testing.T) {
					got, _, err := readRegister(t, revisor, args)
					require.NoError(t, err)
					var want []string
					for id, g := range upTo {
						if (scope.System != "" && g.system != scope.System) || (scope.Person != "" && g.person != scope.Person) {
							continue
						}
						if !g.until.IsZero() && !g.until.After(a.from) {
							continue // ended before the period began
						}
						want = append(want, id)
					}
					slices.Sort(want)
					var gotIDs []string
					for _, e := range got {
						gotIDs = append(gotIDs, e.GrantID)
					}
					require.Equal(t, want, slices.Sorted(slices.Values(gotIDs)))
					if len(got) > 0 {
						nonEmpty++
					}
					require.True(t, slices.IsSortedFunc(got, func(x, y api.AccessEntry) int {
						return strings.Compare(x.System+"\x00"+x.Role+"\x00"+x.Person+"\x00"+x.GrantID, y.System+"\x00"+y.Role+"\x00"+y.Person+"\x00"+y.GrantID)
					}), "in system, role, person, grant order")
					for _, e := range got {
						g, end := upTo[e.GrantID], full[e.GrantID].until
						require.Equal(t, g.person, e.Person)
						require.Equal(t, g.system, e.System)
						require.Equal(t, g.role, e.Role)
						require.Equal(t, g.from.UnixMilli(), e.From.UnixMilli(), "from: when it became active")
						require.Equal(t, g.requester, e.Requester)
						require.Equal(t, g.approvers, nilIfEmpty(e.Approvers))
						if end.IsZero() {
							require.Nil(t, e.Until, "until null while held")
						} else {
							require.NotNil(t, e.Until)
							require.Equal(t, end.UnixMilli(), e.Until.UnixMilli(), "until: when it was revoked or expired")
							if g.until.IsZero() {
								require.True(t, e.Until.After(a.to), "an end the replay up to then did not see is later")
							}
						}
					}
				})
			}
		}
		require.Greater(t, nonEmpty, 40, "the cases hold something to compare")
	}
	t.Run("before erasure", check)

	// Spot checks of what the scenario must show.
	at := func(args api.AccessArgs) []string {
		got, _, err := readRegister(t, revisor, args)
		require.NoError(t, err)
		var ids []string
		for _, e := range got {
			ids = append(ids, e.GrantID)
		}
		return ids
	}
	require.ElementsMatch(t, []string{gD, gE}, at(api.AccessArgs{System: "kasse"}), "now: leder, and bruker again")
	require.ElementsMatch(t, []string{gC}, at(api.AccessArgs{System: "sak"}), "revoke_failed is still held")
	require.ElementsMatch(t, []string{gA, gB, gD}, at(api.AccessArgs{System: "kasse", At: "2025-03-11"}))
	require.ElementsMatch(t, []string{gB, gD}, at(api.AccessArgs{System: "kasse", At: "2025-03-13"}), "emp2 left on the 13th (backdated)")
	require.ElementsMatch(t, []string{gF}, at(api.AccessArgs{System: "lonn", At: "2025-03-21"}), "held in the first second of the day")
	require.Empty(t, at(api.AccessArgs{System: "lonn", At: "2025-03-22"}), "expired")
	entries, names, err := readRegister(t, revisor, api.AccessArgs{System: "kasse", At: "2025-03-11"})
	require.NoError(t, err)
	require.Equal(t, "Åse Øvergård-Bø", names[emp2])
	for _, e := range entries {
		if e.GrantID == gD {
			require.Equal(t, mgr, e.Requester)
			require.Equal(t, []string{mgrMgr, kasseA1}, e.Approvers)
		}
	}

	// Erasure of everything before the 21st: emp2's record goes, the
	// register answers as before, with emp2 by id alone.
	counts, err := h.led.Erase(h.ctx, day(21, 0), h.now, principals.DevID, false)
	require.NoError(t, err)
	require.Equal(t, int64(1), counts.Persons)
	after, names, err := readRegister(t, revisor, api.AccessArgs{System: "kasse", At: "2025-03-11"})
	require.NoError(t, err)
	require.Equal(t, entries, after)
	require.NotContains(t, names, emp2, "no name after the erasure")
	require.Contains(t, names, emp)
	t.Run("after erasure", check)

	t.Run("visibility", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			actor  string
			args   api.AccessArgs
			denied bool
			want   []string
		}{
			{name: "a person, another's", actor: emp, args: api.AccessArgs{Person: emp2, At: "2025-03-11"}, denied: true},
			{name: "a person, a system's", actor: emp, args: api.AccessArgs{System: "kasse", At: "2025-03-11"}, denied: true},
			{name: "a person, their own", actor: emp, args: api.AccessArgs{Person: emp, At: "2025-03-11"}, want: []string{gA, gC, gD, gF}},
			{name: "a manager, their staff's", actor: mgr, args: api.AccessArgs{Person: emp, At: "2025-03-11"}, want: []string{gA, gC, gD, gF}},
			{name: "a manager, a system's", actor: mgr, args: api.AccessArgs{System: "kasse", At: "2025-03-11"}, denied: true},
			{name: "an administrator, their system's", actor: kasseA1, args: api.AccessArgs{System: "kasse", At: "2025-03-11"}, want: []string{gA, gB, gD}},
			{name: "an administrator, another system's", actor: kasseA1, args: api.AccessArgs{System: "sak", At: "2025-03-11"}, denied: true},
			{name: "an administrator, a person's: their system's rows", actor: kasseA1, args: api.AccessArgs{Person: emp, At: "2025-03-11"}, want: []string{gA, gD}},
			{name: "an auditor, a person's", actor: "revisor", args: api.AccessArgs{Person: emp2, At: "2025-03-11"}, want: []string{gB}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, _, err := readRegister(t, client(tc.actor), tc.args)
				if tc.denied {
					require.Error(t, err)
					require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)
					return
				}
				require.NoError(t, err)
				var ids []string
				for _, e := range got {
					ids = append(ids, e.GrantID)
				}
				require.ElementsMatch(t, tc.want, ids)
			})
		}
	})

	t.Run("bad args", func(t *testing.T) {
		for _, tc := range []struct {
			args api.AccessArgs
			msg  string
		}{
			{api.AccessArgs{System: "kasse", Person: emp}, "give system or person, one of them"},
			{api.AccessArgs{}, "give system or person, one of them"},
			{api.AccessArgs{System: "kasse", At: "2025-03-11", From: "2025-03-11", To: "2025-03-12"}, "give one or the other, not both"},
			{api.AccessArgs{System: "kasse", From: "2025-03-11"}, "from and to go together"},
			{api.AccessArgs{System: "kasse", At: "11.3.2025"}, `at "11.3.2025" is neither a date YYYY-MM-DD nor an RFC 3339 time`},
			{api.AccessArgs{System: "kasse", From: "2025-03-12", To: "2025-03-11"}, "from 2025-03-12 is after to 2025-03-11"},
			{api.AccessArgs{System: "kasse", From: "2025-03-11", To: "2025-02-30"}, `to "2025-02-30" is not a date`},
			{api.AccessArgs{System: "kasse", At: "2025-03-23"}, "at 2025-03-23 is in the future"},
			{api.AccessArgs{System: "kasse", After: "g-nosuch"}, "is not a grant of the register asked for"},
			{api.AccessArgs{System: "kasse", After: gC}, "is not a grant of the register asked for"},
		} {
			_, _, err := readRegister(t, revisor, tc.args)
			require.Error(t, err, "%+v", tc.args)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%+v: %v", tc.args, err)
			require.Contains(t, err.Error(), tc.msg)
		}
	})
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
