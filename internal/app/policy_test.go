package app_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// helseSystem adds a role only helse/ staff may hold, with a duration, and
// a role that conflicts with kasse/bruker.
var helseSystem = map[string]string{"helse.yaml": `system: helse
name: Helse
owner: Helse og omsorg
administrators: [1547-20001, 1547-20002]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [HELSE-BRUKER]}
    requestable_by: [manager]
    approval: [manager, systemansvarlig]
    eligible: 'person.org_unit.startsWith("helse/")'
    default_duration: 30d
    max_duration: 60d
    requires_training: true
  - id: skule
    entitlements: {noop: [HELSE-SKULE]}
    requestable_by: [manager]
    approval: []
    eligible: 'person.org_unit.startsWith("oppvekst/")'
  - id: revisor
    entitlements: {noop: [HELSE-REVISOR]}
    requestable_by: [manager]
    approval: []
    conflicts: [kasse/bruker]
`}

func devClient(e *testenv.Env) *api.Client {
	return &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: 10 * time.Second}
}

// plan is a dry run: it says what the policy would decide for every role
// and which operations would follow, and writes nothing.
func TestPlanIsADryRun(t *testing.T) {
	files := maps.Clone(testenv.Catalogue)
	maps.Copy(files, helseSystem)
	e := testenv.Start(t, "", testenv.WriteCatalogue(t, files))
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	e.Wait("grant.active", "1547-1", testenv.ForRequest(id))
	time.Sleep(100 * time.Millisecond)
	before := len(e.Events())

	var res api.PlanResult
	require.Eventually(t, func() bool {
		return devClient(e).Call(context.Background(), api.MethodPlan, api.PlanArgs{Person: "1547-1"}, &res) == nil
	}, 10*time.Second, 50*time.Millisecond)
	byRole := map[string]api.PlanRole{}
	for _, r := range res.Roles {
		byRole[r.System+"/"+r.Role] = r
	}
	require.Len(t, byRole, 6) // kasse: 3 roles, helse: 3

	b := byRole["helse/bruker"]
	require.True(t, b.Decision.Allowed, b.Decision.Reason)
	require.True(t, b.Decision.RequiresTraining)
	require.Equal(t, []api.PlanStage{{Kind: "manager", Who: []string{"1547-2"}}, {Kind: "systemansvarlig", Who: []string{"1547-20001", "1547-20002"}}}, b.Stages)
	require.False(t, b.Decision.End.IsZero())
	require.Equal(t, []string{"grant noop HELSE-BRUKER", "expire tilgang at " + b.Decision.End.End().In(tilgang.Oslo).Format("2006-01-02 15:04") + " (if active today)"},
		b.Operations, "the noop account exists already")

	s := byRole["helse/skule"]
	require.False(t, s.Decision.Allowed)
	require.Equal(t, "eligible", s.Decision.Rule)
	require.Empty(t, s.Operations)

	r := byRole["helse/revisor"]
	require.False(t, r.Decision.Allowed)
	require.Equal(t, "conflicts", r.Decision.Rule)
	require.Contains(t, r.Decision.Reason, "kasse/bruker")

	require.Contains(t, byRole["kasse/bruker"].Open, "active")

	// One role only.
	require.NoError(t, devClient(e).Call(context.Background(), api.MethodPlan, api.PlanArgs{Person: "1547-1", System: "helse", Role: "skule"}, &res))
	require.Len(t, res.Roles, 1)

	time.Sleep(200 * time.Millisecond)
	require.Len(t, e.Events(), before, "plan publishes nothing")
	var gs []api.Grant
	require.NoError(t, devClient(e).Call(context.Background(), api.MethodGrants, api.GrantsArgs{Person: "1547-1"}, &gs))
	require.Len(t, gs, 1, "plan opens no grant")
}

// A reload that finds an invalid file keeps the last good catalogue: the
// worker goes on deciding with it, and a fixed file is taken next time.
func TestReloadWithAnInvalidFileKeepsTheLastGoodCatalogue(t *testing.T) {
	dir := testenv.WriteCatalogue(t, testenv.Catalogue)
	e := testenv.Start(t, "", dir)
	e.Joiner(testenv.People()...)
	c := devClient(e)
	var rr api.ReloadResult
	// The API may take a moment to subscribe after start.
	require.Eventually(t, func() bool {
		return c.Call(context.Background(), api.MethodPolicyReload, struct{}{}, &rr) == nil
	}, 10*time.Second, 50*time.Millisecond)
	good := rr.Version

	// A broken edit: an unknown key and a dangling conflict.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "helse.yaml"), []byte(helseSystem["helse.yaml"]+"colour: blue\n"), 0o644))
	err := c.Call(context.Background(), api.MethodPolicyReload, struct{}{}, &rr)
	require.Error(t, err)
	require.Contains(t, err.Error(), "helse.yaml:")

	// Still the old catalogue: helse is unknown, kasse works.
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "bruker"))
	ev := e.Wait("request.rejected", "1547-1", testenv.ForRequest(id))
	require.Contains(t, ev.Data["reason"], `unknown system "helse"`)
	id = e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	e.Wait("grant.active", "1547-1", testenv.ForRequest(id))
	var st api.Status
	require.NoError(t, c.Call(context.Background(), api.MethodStatus, api.StatusArgs{RequestID: id}, &st))

	// Fixed: the reload takes it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "helse.yaml"), []byte(helseSystem["helse.yaml"]), 0o644))
	require.NoError(t, c.Call(context.Background(), api.MethodPolicyReload, struct{}{}, &rr))
	require.NotEqual(t, good, rr.Version)
	id = e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule"))
	ev = e.Wait("grant.denied", "1547-1", testenv.ForRequest(id))
	require.Contains(t, ev.Data["reason"], "eligible")
}

// SIGHUP reloads the catalogue in tilgang dev, like policy reload.
func TestSIGHUPReloads(t *testing.T) {
	dir := testenv.WriteCatalogue(t, testenv.Catalogue)
	e := testenv.Start(t, "", dir)
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule"))
	ev := e.Wait("request.rejected", "1547-1", testenv.ForRequest(id))
	require.Contains(t, ev.Data["reason"], `unknown system "helse"`)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "helse.yaml"), []byte(helseSystem["helse.yaml"]), 0o644))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule"))
		for _, ev := range e.Events() {
			if ev.Kind == "grant.denied" && ev.Data["request_id"] == id {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
		for _, ev := range e.Events() {
			if ev.Kind == "grant.denied" && ev.Data["request_id"] == id {
				return true
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond)
}
