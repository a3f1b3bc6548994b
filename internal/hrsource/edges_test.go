package hrsource_test

// The edge cases of notes/hr-sources-and-lifecycle.md, each through the
// sync against a real worker.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// edgeCatalogue gives every lærer kasse/bruker by birthright.
var edgeCatalogue = map[string]string{"kasse.yaml": testenv.Catalogue["kasse.yaml"] + `
birthright:
  - when: 'person.position == "lærer"'
    roles: [bruker]
`}

func newEdgeSyncer(t *testing.T) *syncer {
	t.Helper()
	dir := t.TempDir()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, edgeCatalogue)
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	dk, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	return &syncer{env: e, dir: dir, hr: &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second},
		dev: &api.Client{NC: e.NC, Key: dk, Actor: principals.DevID, Timeout: 10 * time.Second}}
}

// json syncs people as the json source, days days before start.
func (s *syncer) json(t *testing.T, days int, people ...tilgang.Person) hrsync.Report {
	t.Helper()
	b, err := json.Marshal(people)
	require.NoError(t, err)
	src, err := (&hrsource.JSONConfig{}).Open()
	require.NoError(t, err)
	rep, err := hrsync.Run(context.Background(), hrsync.Options{Name: "lonn", Source: src,
		Input: hrsource.Input{File: strings.NewReader(string(b))}, MaxLeaveShare: 1, MaxChangeShare: 1,
		Wait: time.Minute, DaysBeforeStart: days, NC: s.env.NC, Client: s.hr, Key: s.hr.Key, Actor: s.hr.Actor})
	require.NoError(t, err, "%+v", rep)
	return rep
}

// grant is person's kasse/bruker grant with its operations.
func (s *syncer) grant(t *testing.T, person string) api.GrantDetail {
	t.Helper()
	var gd api.GrantDetail
	require.Eventually(t, func() bool {
		gs, err := s.dev.GrantsAll(context.Background(), api.GrantsArgs{Person: person})
		if err != nil || len(gs) == 0 {
			return false
		}
		return s.dev.Call(context.Background(), api.MethodGrant, api.GrantArgs{GrantID: gs[len(gs)-1].ID}, &gd) == nil
	}, 20*time.Second, 50*time.Millisecond)
	return gd
}

// personOps are every operation of person, by id (the API lists a
// grant's; an enable on the start date belongs to no grant).
func (s *syncer) personOps(t *testing.T, person string) api.GrantDetail {
	t.Helper()
	var gd api.GrantDetail
	for id, misses := 1, 0; misses < 5; id++ {
		var op api.Operation
		if err := s.dev.Call(context.Background(), api.MethodOperation, api.OperationArgs{OperationID: fmt.Sprint(id)}, &op); err != nil {
			misses++
			continue
		}
		misses = 0
		if op.Person == person {
			gd.Operations = append(gd.Operations, op)
		}
	}
	return gd
}

func ops(gd api.GrantDetail, kind string) []api.Operation {
	var out []api.Operation
	for _, o := range gd.Operations {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func teacher(id string, start tilgang.Date) tilgang.Person {
	return tilgang.Person{ID: id, GivenName: "Nina", FamilyName: "Ny", Municipality: muni,
		Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "oppvekst/skule",
			Position: "lærer", Start: start}}}
}

func days(n int) tilgang.Date { return tilgang.DateOf(time.Now().AddDate(0, 0, n)) }

// A future joiner is sent days_before_start days before the start, not
// before; the account is made disabled at once and enabled at 00:00 Oslo
// on the start date; a start moved later keeps the person (a mover, not a
// leaver) and moves the enabling with it.
func TestFutureJoiner(t *testing.T) {
	s := newEdgeSyncer(t)
	far, near := teacher(muni+"-30001", days(30)), teacher(muni+"-30002", days(10))
	rep := s.json(t, 14, far, near)
	require.Equal(t, 1, rep.Later, "30 days ahead: later")
	require.Equal(t, 1, rep.Joiners)
	require.NotContains(t, s.snapshot(t, "lonn"), far.ID)

	s.grant(t, near.ID)
	g := s.personOps(t, near.ID)
	en := ops(g, "enable")
	require.Len(t, en, 1, "%+v", g.Operations)
	require.True(t, near.Employments[0].Start.Start().Equal(en[0].DueAt), "enabled at 00:00 Oslo on the start date: %s", en[0].DueAt)
	require.Equal(t, "queued", en[0].State)
	require.NotEmpty(t, ops(g, "ensure_account"))

	// Nearer now: the far one is sent; the near one's start moves later.
	far.Employments[0].Start = days(12)
	moved := near
	moved.Employments = []tilgang.Employment{near.Employments[0]}
	moved.Employments[0].Start = days(13)
	rep = s.json(t, 14, far, moved)
	require.Equal(t, 1, rep.Joiners)
	require.Equal(t, 1, rep.Movers)
	require.Zero(t, rep.Leavers)
	g = s.personOps(t, near.ID)
	var due []time.Time
	for _, o := range ops(g, "enable") {
		if o.State == "queued" {
			due = append(due, o.DueAt)
		}
	}
	require.Len(t, due, 1, "%+v", g.Operations)
	require.True(t, days(13).Start().Equal(due[0]), "the enabling moved with the start: %+v", g.Operations)

	// The start is cancelled: the person is gone from the snapshot before
	// day one. The account is disabled at once and never enabled.
	rep = s.json(t, 14, far)
	require.Equal(t, 1, rep.Leavers)
	require.Eventually(t, func() bool {
		g := s.personOps(t, near.ID)
		queued := 0
		for _, o := range g.Operations {
			if o.State == "queued" || o.State == "claimed" {
				queued++
			}
		}
		return queued == 0 && len(ops(g, "disable")) == 1 && ops(g, "disable")[0].State == "done"
	}, 20*time.Second, 100*time.Millisecond)
	for _, o := range ops(s.personOps(t, near.ID), "enable") {
		require.Equal(t, "cancelled", o.State, "%+v", o)
	}
}

// leftOnce reports how many person.left rows the chain holds for person.
func (s *syncer) left(t *testing.T, person string) int {
	t.Helper()
	n := 0
	require.NoError(t, s.dev.Audit(context.Background(), api.AuditArgs{Person: person}, func(rows []api.AuditRow) error {
		for _, r := range rows {
			if r.Kind == "person.left" {
				n++
			}
		}
		return nil
	}))
	return n
}

func (s *syncer) grants(t *testing.T, person string) map[string]int {
	t.Helper()
	gs, err := s.dev.GrantsAll(context.Background(), api.GrantsArgs{Person: person})
	require.NoError(t, err)
	out := map[string]int{}
	for _, g := range gs {
		out[g.State]++
	}
	return out
}

// Backdated and withdrawn terminations, a rehire and several employments
// with one ending, through the sync.
func TestTerminationsRehireAndSeveralEmployments(t *testing.T) {
	s := newEdgeSyncer(t)
	back := teacher(muni+"-40001", days(-100))
	withdrawn := teacher(muni+"-40002", days(-100))
	rehire := teacher(muni+"-40003", days(-100))
	two := teacher(muni+"-40004", days(-100))
	two.Employments = append(two.Employments, tilgang.Employment{ID: two.ID + "-2", Percent: 20, OrgUnit: "helse/heim",
		Position: "assistent", Start: days(-50)})
	rep := s.json(t, 14, back, withdrawn, rehire, two)
	require.Equal(t, 4, rep.Joiners)
	for _, p := range []string{back.ID, withdrawn.ID, rehire.ID, two.ID} {
		require.Eventually(t, func() bool { return s.grants(t, p)["active"] == 1 }, 20*time.Second, 50*time.Millisecond, p)
	}

	// A termination backdated five days: the person leaves at once.
	back.Employments[0].End = days(-5)
	// A termination ten days ahead: scheduled.
	withdrawn.Employments[0].End = days(10)
	// The second employment ends: still employed.
	two.Employments[1].End = days(-1)
	rep = s.json(t, 14, back, withdrawn, rehire, two)
	require.Equal(t, 3, rep.Movers)
	require.Eventually(t, func() bool { return s.left(t, back.ID) == 1 }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return s.grants(t, back.ID)["revoked"] == 1 }, 20*time.Second, 50*time.Millisecond)
	leave := ops(s.personOps(t, withdrawn.ID), "leave")
	require.Len(t, leave, 1)
	require.Equal(t, "queued", leave[0].State)
	require.True(t, days(11).Start().Equal(leave[0].DueAt), "at the end of the last day: %s", leave[0].DueAt)
	require.Zero(t, s.left(t, two.ID), "one of two employments ending is not leaving")
	require.Equal(t, map[string]int{"active": 1}, s.grants(t, two.ID))

	// The termination is withdrawn: the scheduled leave is cancelled. The
	// rehire leaves (missing from the snapshot).
	withdrawn.Employments[0].End = tilgang.Date{}
	rep = s.json(t, 14, back, withdrawn, two)
	require.Equal(t, 1, rep.Movers)
	require.Equal(t, 1, rep.Leavers)
	require.Equal(t, "cancelled", ops(s.personOps(t, withdrawn.ID), "leave")[0].State)
	require.Zero(t, s.left(t, withdrawn.ID))
	require.Eventually(t, func() bool { return s.grants(t, rehire.ID)["revoked"] == 1 }, 20*time.Second, 50*time.Millisecond)

	// Rehired with a new employment: the same account enabled again, a new
	// birthright grant, nothing of the old rights restored.
	rehire.Employments = []tilgang.Employment{{ID: rehire.ID + "-2", Primary: true, Percent: 100, OrgUnit: "oppvekst/skule",
		Position: "lærer", Start: days(0)}}
	rep = s.json(t, 14, back, withdrawn, rehire, two)
	require.Equal(t, 1, rep.Movers, "a person the source had: a mover, not a second joiner")
	require.Eventually(t, func() bool {
		g := s.grants(t, rehire.ID)
		return g["revoked"] == 1 && g["active"] == 1
	}, 20*time.Second, 50*time.Millisecond)
	o := s.personOps(t, rehire.ID)
	require.Len(t, ops(o, "ensure_account"), 1, "the same account: never made again: %+v", o.Operations)
	require.NotEmpty(t, ops(o, "enable"), "enabled again")
}

// A new version of the same position (FINT: another arbeidsforhold with
// the same stillingsnummer, valid from today) is a mover keeping the
// employment's id, not a leaver and a joiner.
func TestNewVersionOfAPositionIsAMover(t *testing.T) {
	s := newSyncer(t)
	read := func(t *testing.T, edit func(string, []map[string]any) []map[string]any) (hrsource.Source, hrsource.Input) {
		var base string
		srv := httptest.NewTLSServer(hrsource.FINTEdited(hrsource.FxPeople(), "tok", func() string { return base }, edit))
		t.Cleanup(srv.Close)
		base = srv.URL
		var auth httpconn.Auth
		auth.Type, auth.TokenFile = "bearer", secret(t, "tok")
		src, err := (&hrsource.FINTConfig{BaseURL: srv.URL, Municipality: muni, Auth: auth}).Open()
		require.NoError(t, err)
		return src, hrsource.Input{Client: srv.Client()}
	}
	src, in := read(t, nil)
	rep := s.run(t, "fint", src, in)
	require.Equal(t, 7, rep.Joiners)
	before := s.snapshot(t, "fint")[muni+"-10003"].Record.Employments
	require.Len(t, before, 1)

	yesterday := tilgang.DateOf(time.Now().AddDate(0, 0, -1)).String() + "T12:00:00Z"
	today := tilgang.DateOf(time.Now()).String() + "T12:00:00Z"
	src, in = read(t, func(path string, es []map[string]any) []map[string]any {
		if path != hrsource.FINTArbeidsforhold {
			return es
		}
		out := es
		for _, e := range es {
			if e["stillingsnummer"] != "10003-1" {
				continue
			}
			e["gyldighetsperiode"] = map[string]any{"start": "2000-01-01T12:00:00Z", "slutt": yesterday}
			v := map[string]any{}
			for k, x := range e {
				v[k] = x
			}
			v["systemId"] = map[string]string{"identifikatorverdi": "af10003-1-v2"}
			v["gyldighetsperiode"] = map[string]any{"start": today, "slutt": nil}
			v["stillingstittel"] = "lektor"
			v["ansettelsesprosent"] = 8000
			out = append(out, v)
		}
		return out
	})
	rep = s.run(t, "fint", src, in)
	require.Equal(t, hrsource.Summary{Source: "fint", People: 7, Movers: 1, Unchanged: 6, Reasons: []string{}}, rep.Summary)
	after := s.snapshot(t, "fint")[muni+"-10003"].Record.Employments
	require.Len(t, after, 1)
	require.Equal(t, before[0].ID, after[0].ID, "the same employment")
	require.Equal(t, "lektor", after[0].Position)
	require.Equal(t, 80.0, after[0].Percent)
	require.Equal(t, before[0].Start, after[0].Start)
}

// A name change is a mover: names follow HR on the account that exists
// (ensured again at its reference, never a second account), access stays.
func TestNameChangeKeepsTheAccount(t *testing.T) {
	s := newEdgeSyncer(t)
	p := teacher(muni+"-50001", days(-10))
	s.json(t, 14, p)
	require.Eventually(t, func() bool { return s.grants(t, p.ID)["active"] == 1 }, 20*time.Second, 50*time.Millisecond)
	p.FamilyName = "Nygift-Hansen"
	rep := s.json(t, 14, p)
	require.Equal(t, 1, rep.Movers)
	var info api.PersonInfo
	require.NoError(t, s.dev.Call(context.Background(), api.MethodPerson, api.PersonArgs{Person: p.ID}, &info))
	require.Equal(t, "Nygift-Hansen", info.FamilyName)
	require.Eventually(t, func() bool {
		o := s.personOps(t, p.ID)
		en := ops(o, "ensure_account")
		return len(en) == 2 && en[1].GrantID == "" && en[1].State == "done"
	}, 20*time.Second, 50*time.Millisecond, "the account is brought up to date, not made anew")
	require.Empty(t, ops(s.personOps(t, p.ID), "disable"))
	require.Equal(t, map[string]int{"active": 1}, s.grants(t, p.ID))
}

// moverCatalogue gives every lærer kasse/bruker, and everyone in
// helse/heim kasse/leder (approved by the manager, then a systemansvarlig).
var moverCatalogue = map[string]string{"kasse.yaml": testenv.Catalogue["kasse.yaml"] + `
birthright:
  - when: 'person.position == "lærer"'
    roles: [bruker]
  - when: 'person.org_unit == "helse/heim"'
    roles: [leder]
`}

// A future-dated mover: HR records today that the person leaves the school
// for helse/heim, with a new manager, from a date ten days ahead. Until
// that day nothing changes (access, account, manager); at 00:00 Oslo on it
// the school's birthright ends, the new unit's is asked for, approved by
// the new manager, and the account shows the new unit.
func TestFutureDatedMover(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	dir := t.TempDir()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{Connectors: connectors.Set{"noop": nc, "manual": manual.Connector{}},
		Catalogue: moverCatalogue, Change: func(_ string, o *app.WorkerOptions) { o.Now = now }})
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	dk, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	s := &syncer{env: e, dir: dir, hr: &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second, Now: now},
		dev: &api.Client{NC: e.NC, Key: dk, Actor: principals.DevID, Timeout: 10 * time.Second, Now: now}}
	hrSync := func(people ...tilgang.Person) hrsync.Report {
		t.Helper()
		b, err := json.Marshal(people)
		require.NoError(t, err)
		src, err := (&hrsource.JSONConfig{}).Open()
		require.NoError(t, err)
		rep, err := hrsync.Run(context.Background(), hrsync.Options{Name: "lonn", Source: src,
			Input: hrsource.Input{File: strings.NewReader(string(b))}, MaxLeaveShare: 1, MaxChangeShare: 1,
			Wait: time.Minute, DaysBeforeStart: 14, NC: e.NC, Client: s.hr, Key: kp, Actor: principals.HRID, Now: now})
		require.NoError(t, err, "%+v", rep)
		return rep
	}
	manager := func() string {
		var info api.PersonInfo
		require.NoError(t, s.dev.Call(context.Background(), api.MethodPerson, api.PersonArgs{Person: muni + "-60001"}, &info))
		return info.Manager
	}
	byRole := func() map[string]api.Grant {
		gs, err := s.dev.GrantsAll(context.Background(), api.GrantsArgs{Person: muni + "-60001"})
		require.NoError(t, err)
		out := map[string]api.Grant{}
		for _, g := range gs {
			out[g.Role] = g
		}
		return out
	}

	p := teacher(muni+"-60001", days(-100))
	// 80 % now and 100 % then: by its percent alone the new employment
	// would be the main one at once.
	p.Employments[0].Manager, p.Employments[0].Percent = muni+"-60100", 80
	rep := hrSync(p)
	require.Equal(t, 1, rep.Joiners)
	require.Eventually(t, func() bool { return byRole()["bruker"].State == "active" }, 20*time.Second, 50*time.Millisecond)

	// HR records the move today: the school employment ends on day 9, the
	// new one starts on day 10.
	moveDay := days(10)
	p.Employments[0].End = days(9)
	p.Employments = append(p.Employments, tilgang.Employment{ID: p.ID + "-2", Primary: true, Percent: 100,
		OrgUnit: "helse/heim", Position: "konsulent", Manager: muni + "-60200", Start: moveDay})
	rep = hrSync(p)
	require.Equal(t, 1, rep.Movers)
	require.Zero(t, rep.Leavers)
	change := ops(s.personOps(t, p.ID), engine.KindChange)
	require.Len(t, change, 1)
	require.Equal(t, "queued", change[0].State)
	require.True(t, moveDay.Start().Equal(change[0].DueAt), "applied at 00:00 Oslo on its date: %s", change[0].DueAt)

	// The evening before: nothing has changed.
	set(moveDay.Start().Add(-time.Minute))
	time.Sleep(2 * time.Second)
	require.Equal(t, muni+"-60100", manager(), "the old manager until the date")
	g := byRole()
	require.Equal(t, "active", g["bruker"].State, "the old access is kept until the date")
	require.NotContains(t, g, "leder", "the new unit's access is not asked for before the date")
	require.Len(t, ops(s.personOps(t, p.ID), "ensure_account"), 1, "the account is not changed before the date")
	require.Equal(t, "queued", ops(s.personOps(t, p.ID), engine.KindChange)[0].State)

	// The day: the change applies.
	set(moveDay.Start().Add(time.Second))
	require.Eventually(t, func() bool {
		g := byRole()
		return g["bruker"].State == "revoked" && g["leder"].State == "pending_approval"
	}, 20*time.Second, 50*time.Millisecond, "%+v", byRole())
	require.Equal(t, muni+"-60200", manager(), "the new manager from the date")
	require.Equal(t, muni+"-60200", byRole()["leder"].WaitingFor, "the new manager approves the new unit's access")
	require.Eventually(t, func() bool {
		en := ops(s.personOps(t, p.ID), "ensure_account")
		return len(en) == 2 && en[1].GrantID == "" && en[1].State == "done"
	}, 20*time.Second, 50*time.Millisecond, "the account shows the new unit")
	o := s.personOps(t, p.ID)
	require.Equal(t, "done", ops(o, engine.KindChange)[0].State)
	require.Len(t, ops(o, engine.KindChange), 1, "nothing more changes ahead")
	require.Empty(t, ops(o, "disable"), "a mover, not a leaver")
	require.Zero(t, s.left(t, p.ID))

	// The next sync (the same record) changes nothing.
	rep = hrSync(p)
	require.Equal(t, 1, rep.Unchanged)
	require.Len(t, ops(s.personOps(t, p.ID), engine.KindChange), 1)
}

// A future joiner through the sync with the worker's clock moved: the
// account is made disabled days_before_start days ahead and enabled at
// 00:00 Oslo on the start date, not a minute before; a start HR moves
// earlier (still ahead) moves the enabling with it.
func TestFutureJoinerEnabledOnTheStartDate(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	dir := t.TempDir()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{Connectors: connectors.Set{"noop": nc, "manual": manual.Connector{}},
		Catalogue: edgeCatalogue, Change: func(_ string, o *app.WorkerOptions) { o.Now = now }})
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	hr := &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second, Now: now}
	hrSync := func(people ...tilgang.Person) hrsync.Report {
		t.Helper()
		b, err := json.Marshal(people)
		require.NoError(t, err)
		src, err := (&hrsource.JSONConfig{}).Open()
		require.NoError(t, err)
		rep, err := hrsync.Run(context.Background(), hrsync.Options{Name: "lonn", Source: src,
			Input: hrsource.Input{File: strings.NewReader(string(b))}, MaxLeaveShare: 1, MaxChangeShare: 1,
			Wait: time.Minute, DaysBeforeStart: 14, NC: e.NC, Client: hr, Key: kp, Actor: principals.HRID, Now: now})
		require.NoError(t, err, "%+v", rep)
		return rep
	}
	state := func(id string) string {
		en, exists := nc.Enabled(id)
		switch {
		case !exists:
			return "none"
		case en:
			return "enabled"
		}
		return "disabled"
	}

	a, b := teacher(muni+"-70001", days(10)), teacher(muni+"-70002", days(12))
	rep := hrSync(a, b)
	require.Equal(t, 2, rep.Joiners)
	for _, id := range []string{a.ID, b.ID} {
		require.Eventually(t, func() bool { return state(id) == "disabled" }, 20*time.Second, 50*time.Millisecond,
			"%s: the account is made disabled ahead of the start", id)
	}

	// HR moves b's start earlier, still ahead.
	b.Employments[0].Start = days(5)
	rep = hrSync(a, b)
	require.Equal(t, 1, rep.Movers)

	set(days(5).Start().Add(-time.Minute))
	time.Sleep(2 * time.Second)
	require.Equal(t, "disabled", state(b.ID), "not a minute before the new start")
	set(days(5).Start().Add(time.Second))
	require.Eventually(t, func() bool { return state(b.ID) == "enabled" }, 20*time.Second, 50*time.Millisecond,
		"enabled at 00:00 Oslo on the start moved earlier")
	require.Equal(t, "disabled", state(a.ID))

	set(days(10).Start().Add(-time.Minute))
	time.Sleep(2 * time.Second)
	require.Equal(t, "disabled", state(a.ID), "not a minute before the start")
	set(days(10).Start().Add(time.Second))
	require.Eventually(t, func() bool { return state(a.ID) == "enabled" }, 20*time.Second, 50*time.Millisecond,
		"enabled at 00:00 Oslo on the start date")

	// b's enabling planned for the start first given never runs again.
	set(days(12).Start().Add(time.Second))
	time.Sleep(time.Second)
	require.Equal(t, "enabled", state(b.ID))
}

// Two employments and neither main (no primary): a data-quality warning
// through the sync, and the same choice whatever the export's order.
func TestNoMainEmploymentWarns(t *testing.T) {
	s := newEdgeSyncer(t)
	p := teacher(muni+"-80001", days(-100))
	p.Employments = []tilgang.Employment{
		{ID: p.ID + "-a", Percent: 50, OrgUnit: "helse/heim", Position: "assistent", Start: days(-100)},
		{ID: p.ID + "-b", Percent: 50, OrgUnit: "oppvekst/skule", Position: "lærer", Start: days(-200)},
	}
	rep := s.json(t, 14, p)
	require.Equal(t, 1, rep.Joiners)
	require.Len(t, rep.Warnings, 1)
	require.Equal(t, p.ID, rep.Warnings[0].PersonID)
	require.Contains(t, rep.Warnings[0].Message, `no main employment among 2 employments; taking "`+p.ID+`-b"`, "equal percent: the earliest start")
	// The chosen employment decides: the teacher's birthright.
	require.Eventually(t, func() bool { return s.grants(t, p.ID)["active"] == 1 }, 20*time.Second, 50*time.Millisecond)

	// The same record in the other order: unchanged, the same choice.
	p.Employments[0], p.Employments[1] = p.Employments[1], p.Employments[0]
	rep = s.json(t, 14, p)
	require.Equal(t, 1, rep.Unchanged)
	require.Len(t, rep.Warnings, 1)
	require.Contains(t, rep.Warnings[0].Message, `taking "`+p.ID+`-b"`)
}

// A person without a manager, and one HR names as their own manager (the
// name is dropped), through the sync: both join, and the manager stage of
// their birthright grant goes to the system's administrators, nobody
// being above them; one with a manager waits for that manager.
func TestMissingOrSelfManager(t *testing.T) {
	dir := t.TempDir()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, moverCatalogue)
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	dk, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	s := &syncer{env: e, dir: dir, hr: &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second},
		dev: &api.Client{NC: e.NC, Key: dk, Actor: principals.DevID, Timeout: 10 * time.Second}}
	heim := func(id, manager string) tilgang.Person {
		p := teacher(id, days(-30))
		p.Employments[0].OrgUnit, p.Employments[0].Position, p.Employments[0].Manager = "helse/heim", "konsulent", manager
		return p
	}
	none, self, boss := heim(muni+"-90001", ""), heim(muni+"-90002", muni+"-90002"), heim(muni+"-90003", muni+"-90001")
	rep := s.json(t, 14, none, self, boss)
	require.Equal(t, 3, rep.Joiners)
	require.Empty(t, s.snapshot(t, "lonn")[self.ID].Record.Employments[0].Manager, "a person is not their own manager")
	for id, want := range map[string]string{none.ID: "systemansvarlig", self.ID: "systemansvarlig", boss.ID: none.ID} {
		require.Eventually(t, func() bool {
			gs, err := s.dev.GrantsAll(context.Background(), api.GrantsArgs{Person: id})
			return err == nil && len(gs) == 1 && gs[0].State == "pending_approval" && gs[0].WaitingFor == want
		}, 20*time.Second, 50*time.Millisecond, "%s waits for %s", id, want)
	}
}
