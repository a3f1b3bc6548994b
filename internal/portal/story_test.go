package portal_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
	"github.com/ror-ikt/tilgang/internal/testenv/oidctest"
)

// The people of the story, from deploy/examples/people.json.
const (
	kari     = "1547-10300" // avdelingsleder in hjemmetjenesten: the manager
	sindre   = "1547-10412" // sykepleier, Kari's: the nurse
	oddbjorg = "1547-10290" // kommunalsjef, Kari's manager: the manager stage
	marit    = "1547-20001" // systemansvarlig for Gerica
	torEinar = "1506-20002" // the other systemansvarlig for Gerica (Molde)
	geir     = "1506-20049" // barnevernleder in Molde: a manager, not Sindre's
	randi    = "1506-20020" // arkivleder in Molde: the auditor (a person principal holding auditor)
)

// story is a worker serving the portal with OpenID Connect sign-in at a
// real provider, the example people and the repository's catalogue, and
// one Chromium.
type story struct {
	*testenv.Env
	url    string // the portal
	idp    *oidctest.Provider
	b      *browser.Browser
	people map[string]tilgang.Person
}

// startStory starts the provider, the worker with its portal (as a
// worker's config portal: section has it) and the browser, and sends
// the example people as HR would.
func startStory(t *testing.T) *story {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "people.json"))
	require.NoError(t, err)
	var people []tilgang.Person
	require.NoError(t, json.Unmarshal(raw, &people))
	s := &story{people: map[string]tilgang.Person{}}
	var users []oidctest.User
	for _, p := range people {
		s.people[p.ID] = p
		users = append(users, oidctest.User{EmployeeID: p.ID, Name: p.GivenName + " " + p.FamilyName, Email: p.Email, EmailVerified: true})
	}
	s.idp = oidctest.Start(t, &oidctest.Options{Users: users})
	s.b = browser.Start(t)

	// The auditor is a person principal with the auditor capability, as
	// the principals file of a worker names her.
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	auditor := principals.Principal{ID: randi, Kind: principals.KindPerson, Name: "Randi Bjørnerem", Key: pub,
		Capabilities: []string{tilgang.CapAuditor}}

	journal, err := noop.Open(noop.Config{Journal: filepath.Join(t.TempDir(), "noop.journal")})
	require.NoError(t, err)
	s.Env = testenv.StartWorkerWith(t, testenv.WorkerSetup{
		Connectors: connectors.Set{"noop": journal, "manual": manual.Connector{}},
		Policies:   filepath.Join("..", "..", "policies"),
		Principals: []principals.Principal{auditor},
		Portal: &portal.Options{OIDC: &portal.OIDC{Issuer: s.idp.Issuer, ClientID: s.idp.ClientID,
			ClientSecret: s.idp.ClientSecret, PersonClaim: oidctest.EmployeeIDClaim}},
	})
	s.url = "http://" + s.HTTP
	s.Joiner(people...)
	for _, p := range people {
		require.Eventually(t, func() bool {
			var info api.PersonInfo
			return s.as(principals.DevID).Call(context.Background(), api.MethodPerson, api.PersonArgs{Person: p.ID}, &info) == nil
		}, 20*time.Second, 20*time.Millisecond, "the record of %s", p.ID)
	}
	// Sindre's gerica/bruker by birthright waits for a systemansvarlig:
	// the import has been taken in.
	s.eventually(t, "Sindre's gerica/bruker by birthright", func() bool {
		in := s.inbox(t, marit)
		return slices.ContainsFunc(in.Approvals, func(a api.Approval) bool {
			return a.Person == sindre && a.System == "gerica" && a.Role == "bruker"
		})
	})
	return s
}

// as is an API client for actor, signed by the dev principal.
func (s *story) as(actor string) *api.Client {
	via := principals.DevID
	if actor == principals.DevID {
		via = ""
	}
	return &api.Client{NC: s.NC, Key: s.Sender.Key, Actor: actor, Via: via, Timeout: 5 * time.Second}
}

func (s *story) inbox(t *testing.T, person string) api.Inbox {
	t.Helper()
	var in api.Inbox
	require.NoError(t, s.as(person).Call(context.Background(), api.MethodInbox, nil, &in))
	return in
}

func (s *story) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 50*time.Millisecond, what)
}

func (s *story) name(id string) string {
	p := s.people[id]
	return p.GivenName + " " + p.FamilyName
}

// signIn opens a browser context of its own for person and signs them in
// by keyboard: the portal sends the browser to the provider, whose own
// login form takes the user name and password; the provider sends it
// back to the portal's first page.
func (s *story) signIn(t *testing.T, person string) *browser.Page {
	t.Helper()
	p := s.b.Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(s.url+"/"))
	require.True(t, strings.HasPrefix(p.URL(), s.idp.Issuer+"/interaction/"), "the provider's login form: %s", p.URL())
	require.Equal(t, "Logg inn", p.Title())
	u := s.idp.User(t, person)
	p.TabTo("#login")
	p.Type(u.Login)
	p.TabTo("#password")
	p.Type(u.Password)
	require.Equal(t, http.StatusOK, p.PressAndWait(browser.Enter), "Enter in the password field sends the form")
	require.Equal(t, s.url+"/", p.URL())
	require.Contains(t, p.VisibleText(), "Logget inn som "+s.name(person))
	s.check(p)
	return p
}

// check is what every page of the story must be: no problem (the
// Content-Security-Policy blocked nothing, nothing failed to load) and
// no WCAG 2.1 A/AA violation that axe-core finds.
func (s *story) check(p *browser.Page) {
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
}

// forge adds to the page shown a form like the one the inbox gives an
// approver, or the one the plan gives for a role, as someone who edits
// the page would, and sends it with a real click: the browser posts it
// from the portal's own origin, with the person's session.
func forge(t *testing.T, p *browser.Page, action string, fields map[string]string) int {
	t.Helper()
	type field struct{ Name, Value string }
	var fs []field
	for k, v := range fields {
		fs = append(fs, field{k, v})
	}
	js, err := json.Marshal(map[string]any{"action": action, "fields": fs})
	require.NoError(t, err)
	require.True(t, browser.Eval[bool](p, `(() => {
		const spec = `+string(js)+`;
		const f = document.createElement('form');
		f.method = 'post';
		f.action = spec.action;
		for (const x of spec.fields) {
			const i = document.createElement('input');
			i.type = 'hidden'; i.name = x.Name; i.value = x.Value;
			f.append(i);
		}
		const b = document.createElement('button');
		b.type = 'submit'; b.id = 'forged'; b.textContent = 'Send';
		f.append(b);
		document.querySelector('main').append(f);
		return true;
	})()`))
	return p.ClickAndWait("#forged")
}

// The README's story in a real Chromium, every person signing in through
// a real OpenID Connect provider's own login form, against a worker
// serving the portal, by keyboard alone (Tab, Shift+Tab, Enter, Space:
// no clicks, no form sent by a script), with a visible focus at every
// step, and axe-core finding no WCAG 2.1 A/AA violation on any page in
// any state it passes through:
//
//  1. Kari, a manager, asks for Gerica (superbruker) for her nurse Sindre
//     and sees the plan first;
//  2. those who may not decide the manager stage (the other
//     systemansvarlig, Kari who asked, Sindre himself) try to approve and
//     are refused, and Geir, a manager but not Sindre's, may not ask;
//  3. Oddbjørg, Kari's manager, approves the manager stage in her inbox,
//     Marit the systemansvarlig stage;
//  4. Marit confirms Sindre's training and completes the manual task;
//  5. Sindre sees his access, and Kari her request's history;
//  6. Randi, an auditor, exports Sindre's Gerica audit as CSV, and the
//     file names Oddbjørg and Marit as the approvers.
//
// Screenshots go to TILGANG_ARTEFACTS (deploy/screenshots.sh copies them
// into docs/screenshots for the README).
func TestStoryInChromium(t *testing.T) {
	s := startStory(t)

	// 1. Kari asks for Gerica for Sindre.
	kariPage := s.signIn(t, kari)
	p := kariPage
	p.WindowScreenshot("01-manager-home")
	// The skip link first, and it takes the focus to the main content.
	p.Press(browser.Tab)
	require.True(t, p.HasFocus("a.ds-skip-link"), p.Focused())
	p.RequireVisibleFocus()
	p.Press(browser.Enter)
	require.True(t, p.HasFocus("main#main"), p.Focused())
	p.ShiftTabTo(`nav a[href="/requests/new"]`)
	require.Equal(t, http.StatusOK, p.Activate(`nav a[href="/requests/new"]`, browser.Enter))
	require.Equal(t, s.url+"/requests/new", p.URL())
	s.check(p)
	p.TabTo("#person") // the field's text is selected: typing replaces it
	p.Type(sindre)
	require.Equal(t, http.StatusOK, p.PressAndWait(browser.Enter))
	text := p.VisibleText()
	require.Contains(t, text, "Hva Tilgang vil avgjøre for "+sindre)
	plan := p.Text(`section[aria-labelledby="role-gerica-superbruker"]`)
	require.Contains(t, plan, "gerica – superbruker")
	require.Contains(t, plan, "Godkjennes av: manager ("+oddbjorg+"), systemansvarlig (")
	require.Contains(t, plan, "Krever bekreftet opplæring.")
	s.check(p)
	p.TabTo("#reason-gerica-superbruker")
	p.Type("Superbruker for hjemmetjenesten, skal lære opp kolleger")
	p.WindowScreenshot("02-manager-plan")
	p.TabTo(`section[aria-labelledby="role-gerica-superbruker"] button[type="submit"]`)
	require.Equal(t, http.StatusOK, p.PressAndWait(browser.Space))
	require.Regexp(t, `/requests/[0-9a-f]{64}$`, p.URL())
	id := p.URL()[len(p.URL())-64:]
	require.Contains(t, p.VisibleText(), "Venter på godkjenning")
	s.check(p)
	p.WindowScreenshot("03-manager-request")

	// 2. Who may not decide the manager stage is refused, in words.
	t.Run("refused", func(t *testing.T) {
		for _, who := range []struct{ person, role string }{
			{torEinar, "a systemansvarlig, not the stage's approver"},
			{kari, "the requester"},
			{sindre, "the subject"},
		} {
			p := s.signIn(t, who.person)
			require.Equal(t, http.StatusOK, p.Navigate(s.url+"/approvals"))
			require.Zero(t, p.Count(`form[action="/approvals/`+id+`"]`), who.role)
			s.check(p)
			require.Equal(t, http.StatusForbidden, forge(t, p, "/approvals/"+id, map[string]string{"decision": "approve", "comment": "ok"}), who.role)
			require.Contains(t, p.VisibleText(), i18n.T("error.403.notapprover"), who.role)
			s.check(p)
		}
		// Geir manages others: no plan for Sindre, and a request sent
		// anyway is denied with the policy's reason.
		p := s.signIn(t, geir)
		require.Equal(t, http.StatusOK, p.Navigate(s.url+"/requests/new?person="+sindre))
		require.Contains(t, p.VisibleText(), i18n.T("new.error.notyours", sindre))
		require.Zero(t, p.Count(`form[action="/requests"]`))
		s.check(p)
		require.Equal(t, http.StatusForbidden, forge(t, p, "/requests", map[string]string{
			"person": sindre, "system": "gerica", "role": "superbruker", "reason": "trenger det"}))
		require.Contains(t, p.VisibleText(), i18n.T("error.403.denied", i18n.T("why.policy.requestable", "superbruker", "gerica", geir, sindre)))
		s.check(p)
		p.WindowScreenshot("refused-request")
		in := s.inbox(t, oddbjorg)
		require.True(t, slices.ContainsFunc(in.Approvals, func(a api.Approval) bool { return a.RequestID == id }),
			"nothing was decided: the manager stage still waits for Oddbjørg")
	})

	// 3. The approvers, each in their inbox.
	approve := func(person, comment, shot string) *browser.Page {
		t.Helper()
		p := s.signIn(t, person)
		p.TabTo(`a[href="/approvals"]:not(nav a)`) // "Gå til godkjenninger" under the table
		require.Equal(t, http.StatusOK, p.Activate(`a[href="/approvals"]:not(nav a)`, browser.Enter))
		require.Contains(t, p.Text(`#h-`+id), "ber om rollen superbruker i gerica for "+s.name(sindre)+" ("+sindre+")")
		s.check(p)
		p.TabTo("#comment-" + id)
		p.Type(comment)
		p.WindowScreenshot(shot)
		form := `form[action="/approvals/` + id + `"] `
		p.TabTo(form + `button[value="deny"]`)
		p.ShiftTabTo(form + `button[value="approve"]`)
		require.Equal(t, http.StatusOK, p.Activate(form+`button[value="approve"]`, browser.Enter))
		require.Equal(t, s.url+"/approvals?sent", p.URL())
		require.Contains(t, p.VisibleText(), "Avgjørelsen er sendt.")
		require.Zero(t, p.Count(`form[action="/approvals/`+id+`"]`), "decided")
		s.check(p)
		return p
	}
	approve(oddbjorg, "Trengs i tjenesten", "04-approver-inbox")
	p = approve(marit, "Godkjent av systemansvarlig", "05-systemansvarlig-inbox")

	// 4. Marit confirms the training, then completes the manual task.
	home := func() {
		t.Helper()
		p.ShiftTabTo(`nav a[href="/"]`)
		require.Equal(t, http.StatusOK, p.Activate(`nav a[href="/"]`, browser.Enter))
		require.Equal(t, s.url+"/", p.URL())
		s.check(p)
	}
	home()
	training := `form[action="/training"]:has(input[name="person"][value="` + sindre + `"]):has(input[name="role"][value="superbruker"]) button`
	require.Equal(t, 1, p.Count(training), "the training waits for Marit")
	p.TabTo(training)
	p.WindowScreenshot("06-systemansvarlig-training")
	require.Equal(t, http.StatusOK, p.Activate(training, browser.Space))
	require.Equal(t, s.url+"/?sent", p.URL())
	require.Contains(t, p.VisibleText(), "Det er sendt.")
	require.Zero(t, p.Count(training), "confirmed")
	s.check(p)
	// The grant's manual work comes one task at a time (Sindre's account
	// in Gerica, then the role): Marit does each as it comes.
	var st api.Status
	require.NoError(t, s.as(principals.DevID).Call(context.Background(), api.MethodStatus, api.StatusArgs{RequestID: id}, &st))
	for n := 0; ; n++ {
		var task *api.Task
		s.eventually(t, "a manual task of Sindre's grant, or the grant active", func() bool {
			for _, tk := range s.inbox(t, marit).Tasks {
				if tk.GrantID == st.GrantID {
					task = &tk
					return true
				}
			}
			var now api.Status
			require.NoError(t, s.as(principals.DevID).Call(context.Background(), api.MethodStatus, api.StatusArgs{RequestID: id}, &now))
			return now.State == "active"
		})
		if task == nil {
			require.Positive(t, n, "the role itself was a manual task")
			break
		}
		require.Less(t, n, 3, "more manual tasks than an account and a role")
		// The task came after the page was made: the first page again.
		home()
		row := `form[action="/tasks/` + task.OperationID + `"]`
		require.Equal(t, 1, p.Count(row), "Marit's first page lists the task")
		p.TabTo("#task-comment-" + task.OperationID)
		p.Type("Gjort i Gerica")
		if task.Entitlement != "" {
			require.Contains(t, p.Text(`section[aria-labelledby="tasks-h"]`), task.Entitlement)
			p.WindowScreenshot("07-systemansvarlig-task")
		}
		p.TabTo(row + ` button[value="done"]`)
		require.Equal(t, http.StatusOK, p.Activate(row+` button[value="done"]`, browser.Enter))
		require.Equal(t, s.url+"/?sent", p.URL())
		require.Zero(t, p.Count(row), "done")
		s.check(p)
	}

	// 5. Sindre sees his access; Kari the request's history.
	p = s.signIn(t, sindre)
	access := p.Text(`section[aria-labelledby="access-h"]`)
	require.Regexp(t, `gerica\s+superbruker\s+Aktiv`, access)
	p.TabTo(`a[href="/people/` + sindre + `"]`)
	p.WindowScreenshot("08-nurse-access")
	require.Equal(t, http.StatusOK, p.Activate(`a[href="/people/`+sindre+`"]`, browser.Enter))
	require.Contains(t, p.VisibleText(), s.name(sindre)+" ("+sindre+")")
	s.check(p)

	// Kari opens her request's page by its address, as from a mail.
	p = kariPage
	require.Equal(t, http.StatusOK, p.Navigate(s.url+"/requests/"+id))
	history := p.VisibleText()
	require.Contains(t, history, "Aktiv")
	for _, who := range []string{oddbjorg, marit} {
		require.Contains(t, history, who+" (via portal)")
	}
	s.check(p)
	p.WindowScreenshot("09-manager-request-active")

	// 6. Randi, the auditor, exports the audit of Sindre in Gerica.
	p = s.signIn(t, randi)
	p.TabTo("#nav-audit")
	require.Equal(t, http.StatusOK, p.Activate("#nav-audit", browser.Enter))
	require.Equal(t, s.url+"/audit", p.URL())
	s.check(p)
	p.TabTo("#audit-person")
	p.Type(sindre)
	p.TabTo("#audit-system")
	p.Type("gerica")
	p.TabTo("#audit-show")
	require.Equal(t, http.StatusOK, p.Activate("#audit-show", browser.Enter))
	require.Contains(t, p.URL(), "person="+sindre)
	s.check(p)
	p.TabTo("#audit-csv")
	p.WindowScreenshot("10-auditor-audit")
	file := p.Download(func() { p.Press(browser.Enter) })
	require.Equal(t, "tilgang-revisjon.csv", file.Name)
	records, err := csv.NewReader(bytes.NewReader(file.Data)).ReadAll()
	require.NoError(t, err, "the file is CSV:\n%s", file.Data)
	require.Equal(t, api.AuditCSVHeader, records[0])
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	// Who approved each stage: the approvals are the rows of the grant
	// that moved it on from pending_approval, by a person via the portal.
	var approvers []string
	for _, r := range records[1:] {
		require.Equal(t, sindre, r[col["person"]], "only Sindre's rows")
		require.Equal(t, "gerica", r[col["system"]], "only Gerica's rows")
		if r[col["grant_id"]] == st.GrantID && r[col["kind"]] == "grant.state" && r[col["from"]] == "pending_approval" {
			require.Equal(t, principals.PortalID, r[col["via"]])
			approvers = append(approvers, r[col["actor"]])
		}
	}
	require.Equal(t, []string{oddbjorg, marit}, approvers, "the file names the approvers, in order:\n%s", file.Data)
}
