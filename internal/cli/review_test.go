package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	csvconn "github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

const reviewPolicy = `system: arkiv
name: Arkiv
owner: Fellestjenester
administrators: [1547-20001]
connectors: [csv]
roles:
  - id: bruker
    entitlements: { csv: ["Arkiv-Bruker"] }
    requestable_by: [manager]
    approval: []
review: {reviewers: manager, duration: 14d, if_no_response: remove, justification: required}
`

// reviewWorld is a worker with the arkiv system on a csv instance, and 30
// grants of it: 14 people under each of two managers, and the two
// managers' own (reviewed by their manager, 1547-3).
type reviewWorld struct {
	env     *testenv.Env
	devKey  string
	csvFile string
	m1, m2  string
	staff1  []string          // 1547-601..614, under m1
	staff2  []string          // 1547-621..634, under m2
	grants  map[string]string // person -> grant id
}

func newReviewWorld(t *testing.T) *reviewWorld { return newReviewWorldWith(t, nil) }

// newReviewWorldWith is newReviewWorld with the worker's setup changed by
// change (a portal, say) before it starts.
func newReviewWorldWith(t *testing.T, change func(*testenv.WorkerSetup)) *reviewWorld {
	dir := t.TempDir()
	conn, err := csvconn.Open("csv", csvconn.Config{Dir: dir}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	setup := testenv.WorkerSetup{Connectors: connectors.Set{"csv": conn}, Catalogue: map[string]string{"arkiv.yaml": reviewPolicy}}
	if change != nil {
		change(&setup)
	}
	e := testenv.StartWorkerWith(t, setup)
	w := &reviewWorld{env: e, devKey: filepath.Join(e.Data, "keys", principals.DevSeedFile), csvFile: filepath.Join(dir, "csv.csv"),
		m1: "1547-501", m2: "1547-502", grants: map[string]string{}}
	base := testenv.People()
	person := func(id, manager string) tilgang.Person {
		p := base[0]
		p.ID, p.GivenName = id, "Person "+id
		p.Employments = []tilgang.Employment{p.Employments[0]}
		p.Employments[0].ID, p.Employments[0].Manager = id+"-1", manager
		return p
	}
	people := append([]tilgang.Person{}, base...)
	people = append(people, person(w.m1, "1547-3"), person(w.m2, "1547-3"))
	for i := 1; i <= 14; i++ {
		a, b := fmt.Sprintf("1547-%d", 600+i), fmt.Sprintf("1547-%d", 620+i)
		w.staff1, w.staff2 = append(w.staff1, a), append(w.staff2, b)
		people = append(people, person(a, w.m1), person(b, w.m2))
	}
	e.Joiner(people...)
	ask := func(p, mgr string) string {
		return e.Send(tilgang.TypeRequest, p, mgr, envelope.Request{Action: "grant", System: "arkiv", Role: "bruker", Reason: "saksbehandling"})
	}
	reqs := map[string]string{ask(w.m1, "1547-3"): w.m1, ask(w.m2, "1547-3"): w.m2}
	for i := range w.staff1 {
		reqs[ask(w.staff1[i], w.m1)] = w.staff1[i]
		reqs[ask(w.staff2[i], w.m2)] = w.staff2[i]
	}
	for rid, p := range reqs {
		w.grants[p] = e.Wait(tilgang.EvRequestAccepted, p, testenv.ForRequest(rid)).Data["grant_id"].(string)
	}
	for p, g := range w.grants {
		e.Wait(tilgang.EvGrantActive, p, testenv.ForGrant(g))
	}
	require.Len(t, w.grants, 30)
	return w
}

// cli runs the tilgang command as principal (dev signs on its behalf).
func (w *reviewWorld) cli(t *testing.T, as string, args ...string) (int, string, string) {
	t.Helper()
	vars := map[string]string{envNATS: w.env.URL, envKey: w.devKey, envAs: as}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, options{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""),
		Getenv: func(k string) string { return vars[k] }, Now: time.Now})
	return code, out.String(), errOut.String()
}

// holders reads the csv file the target imports: who has Arkiv-Bruker.
func (w *reviewWorld) holders(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(w.csvFile)
	require.NoError(t, err)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	var out []string
	for _, r := range recs[1:] {
		if slices.ContainsFunc(r, func(f string) bool { return slices.Contains(strings.Split(f, "|"), "Arkiv-Bruker") }) {
			out = append(out, r[0])
		}
	}
	slices.Sort(out)
	return out
}

type shownCampaign struct {
	CampaignID string `json:"campaign_id"`
	System     string `json:"system"`
	State      string `json:"state"`
	Items      []struct {
		Person    string   `json:"person"`
		Role      string   `json:"role"`
		GrantID   string   `json:"grant_id"`
		Reviewers []string `json:"reviewers"`
		Decision  *string  `json:"decision"`
		DecidedBy string   `json:"decided_by"`
	} `json:"items"`
}

// TestReviewCampaignThroughCLI is issue 17's acceptance through the
// command line: a campaign over 30 grants with two reviewing managers, one
// of them silent, under if_no_response: remove. At the close exactly the
// removed and the unanswered grants are gone from the target's file, with
// the reviewer or review as actor in the audit, and the chain verifies.
// A reviewer cannot decide another's item, nor one about themselves. The
// command reads the campaign in pages and shows it whole.
func TestReviewCampaignThroughCLI(t *testing.T) {
	// review show and decide read the campaign seven items a call: the
	// thirty items are five pages, m1's fourteen two.
	page := reviewShowPage
	reviewShowPage = 7
	t.Cleanup(func() { reviewShowPage = page })
	w := newReviewWorld(t)
	all := append(append([]string{w.m1, w.m2}, w.staff1...), w.staff2...)
	slices.Sort(all)
	require.Equal(t, all, w.holders(t), "every grant is at the target before the review")

	// Only the system's administrators and operators start one.
	code, _, errOut := w.cli(t, w.m1, "review", "start", "--system", "arkiv")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "may not start a review of arkiv")
	code, out, errOut := w.cli(t, "1547-20001", "review", "start", "--system", "arkiv", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var started map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &started))
	campaign := started["campaign_id"]
	require.NotEmpty(t, campaign)
	// One open campaign per system.
	code, _, errOut = w.cli(t, "1547-20001", "review", "start", "--system", "arkiv")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "one open campaign per system")

	code, out, errOut = w.cli(t, "dev", "review", "show", campaign, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var show shownCampaign
	require.NoError(t, json.Unmarshal([]byte(out), &show))
	require.Equal(t, campaign, show.CampaignID)
	require.Equal(t, "arkiv", show.System)
	require.Equal(t, "open", show.State)
	require.Len(t, show.Items, 30)
	for _, it := range show.Items {
		want := w.m1
		switch {
		case it.Person == w.m1 || it.Person == w.m2:
			want = "1547-3" // a manager's own access goes to their manager
		case slices.Contains(w.staff2, it.Person):
			want = w.m2
		}
		require.Equal(t, []string{want}, it.Reviewers, it.Person)
		require.Nil(t, it.Decision)
		require.Equal(t, w.grants[it.Person], it.GrantID)
	}
	// The raw JSON has decision null, as DESIGN.md shows it.
	require.Contains(t, out, `"decision": null`)

	// m1 decides their staff: ten keep, four remove; a comment is required.
	code, _, errOut = w.cli(t, w.m1, "review", "decide", campaign, "--person", w.staff1[0], "--role", "bruker", "keep", "--wait", "20s")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "requires a comment with every decision")
	removed := w.staff1[10:]
	for i, p := range w.staff1 {
		d := "keep"
		if i >= 10 {
			d = "remove"
		}
		code, _, errOut := w.cli(t, w.m1, "review", "decide", campaign, "--person", p, "--role", "bruker", d,
			"--comment", "gjennomgått "+d, "--wait", "20s")
		require.Equal(t, 0, code, "%s %s: %s", p, d, errOut)
	}
	// m1 may not decide m2's staff, nor their own access.
	code, _, errOut = w.cli(t, w.m1, "review", "decide", campaign, "--person", w.staff2[0], "--grant", w.grants[w.staff2[0]], "remove",
		"--comment", "ikke min", "--wait", "20s")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "is not a reviewer of "+w.staff2[0])
	code, _, errOut = w.cli(t, w.m1, "review", "decide", campaign, "--person", w.m1, "--grant", w.grants[w.m1], "keep",
		"--comment", "min egen", "--wait", "20s")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "may not review their own access")
	// Their manager keeps both managers' access; m2 says nothing.
	for _, p := range []string{w.m1, w.m2} {
		code, _, errOut := w.cli(t, "1547-3", "review", "decide", campaign, "--person", p, "--role", "bruker", "keep",
			"--comment", "leder", "--wait", "20s")
		require.Equal(t, 0, code, errOut)
	}

	code, out, errOut = w.cli(t, "dev", "review", "show", campaign, "--output", "json")
	require.Equal(t, 0, code, errOut)
	show = shownCampaign{}
	require.NoError(t, json.Unmarshal([]byte(out), &show))
	decided := 0
	for _, it := range show.Items {
		if it.Decision != nil {
			decided++
			require.NotEmpty(t, it.DecidedBy)
		}
	}
	require.Equal(t, 16, decided)

	// The administrator may not close it before its end; an operator may.
	code, _, errOut = w.cli(t, "1547-20001", "review", "close", campaign)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "only operators may close it before its end")
	code, out, errOut = w.cli(t, "dev", "review", "close", campaign, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var closed map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &closed))
	require.Equal(t, "closed", closed["state"])
	require.EqualValues(t, 18, closed["revoked"])
	require.EqualValues(t, 12, closed["kept"])
	// Closing again is refused; so are decisions now.
	code, _, _ = w.cli(t, "dev", "review", "close", campaign)
	require.NotEqual(t, 0, code)

	// Exactly the removed and the unanswered are revoked at the target.
	gone := append(append([]string{}, removed...), w.staff2...)
	for _, p := range gone {
		w.env.Wait(tilgang.EvGrantRevoked, p, testenv.ForGrant(w.grants[p]))
	}
	var kept []string
	for _, p := range all {
		if !slices.Contains(gone, p) {
			kept = append(kept, p)
		}
	}
	require.Eventually(t, func() bool { return slices.Equal(kept, w.holders(t)) }, 30*time.Second, 100*time.Millisecond,
		"the target holds exactly the kept grants")
	require.Equal(t, kept, w.holders(t))

	// The audit names the reviewer for a removal and review for silence.
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	c := &api.Client{NC: w.env.NC, Key: kp, Actor: principals.DevID, Timeout: time.Minute}
	actors := map[string]string{}
	require.NoError(t, c.Audit(context.Background(), api.AuditArgs{System: "arkiv"}, func(rows []api.AuditRow) error {
		for _, r := range rows {
			if r.Kind == "grant.state" && r.To == string(tilgang.StateRevoking) {
				require.Empty(t, actors[r.Person], "one revoke each")
				actors[r.Person] = r.Actor
			}
		}
		return nil
	}))
	require.Len(t, actors, len(gone))
	for _, p := range removed {
		require.Equal(t, w.m1, actors[p], p)
	}
	for _, p := range w.staff2 {
		require.Equal(t, tilgang.ReviewActor, actors[p], p)
	}

	// The campaign report: one row per item.
	code, out, errOut = w.cli(t, "1547-20001", "review", "show", campaign, "--format", "csv")
	require.Equal(t, 0, code, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, ReportHeader, rows[0])
	require.Len(t, rows, 31)

	code, out, errOut = w.cli(t, "dev", "audit", "verify")
	require.Equal(t, 0, code, "%s%s", out, errOut)
}
