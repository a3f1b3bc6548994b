package portal_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// A person whose name is markup, to show that names are text.
const scriptName = "<script>alert(1)</script>"

// Auditor is a person who holds the auditor capability (in the dev data
// directory's principals.yaml); 1547-3, a manager, holds none.
const Auditor = "1547-7"

// HRAdviser holds hr_requester: asks for anyone, as HR advisers do.
const HRAdviser = "1547-8"

// writeExtraPrincipals gives dev the person principal Auditor, with a key
// of its own nobody uses: the portal signs for the person.
func writeExtraPrincipals(t *testing.T, data string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	kp2, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub2, err := kp2.PublicKey()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(data, app.DevPrincipalsFile), []byte(`principals:
  - id: `+Auditor+`
    kind: person
    name: Revisor
    key: `+pub+`
    capabilities: [auditor]
  - id: `+HRAdviser+`
    kind: person
    name: HR-rådgiver
    key: `+pub2+`
    capabilities: [hr_requester]
`), 0o600))
}

// people: testenv's (1547-1, whose manager is 1547-2, whose manager is
// 1547-3; the kasse administrators 1547-20001 and 1547-20002), one whose
// name is a script, and one who has left.
func people() []tilgang.Person {
	ps := testenv.People()
	x := ps[0]
	x.ID, x.GivenName = "1547-666", scriptName
	x.Employments = []tilgang.Employment{{ID: "666-1", Primary: true, Percent: 100, OrgUnit: "helse", Position: "p",
		Manager: "1547-3", Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}
	gone := ps[0]
	gone.ID = "1547-9"
	gone.Employments = []tilgang.Employment{{ID: "9-1", Primary: true, Percent: 100, OrgUnit: "helse", Position: "p",
		Manager: "1547-3", Start: tilgang.Date{Y: 2020, M: 1, D: 1}, End: tilgang.Date{Y: 2021, M: 1, D: 1}}}
	gone.Email = "sluttet@aukra.kommune.no"
	auditor := ps[0]
	auditor.ID, auditor.GivenName, auditor.FamilyName = Auditor, "Rita", "Revisor"
	auditor.Employments = []tilgang.Employment{{ID: "7-1", Primary: true, Percent: 100, OrgUnit: "revisjon", Position: "revisor",
		Manager: "1547-3", Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}
	// E-mail addresses, for the sign-in by e-mail: 1547-1's own, and one
	// that 1547-2 and 1547-3 share (so it names nobody for certain).
	for i := range ps {
		switch ps[i].ID {
		case "1547-1":
			ps[i].Email = "ase.overgard@aukra.kommune.no"
		case "1547-2", "1547-3":
			ps[i].Email = "felles@aukra.kommune.no"
		}
	}
	adviser := auditor
	adviser.ID, adviser.GivenName, adviser.FamilyName = HRAdviser, "Helga", "HR"
	adviser.Employments = []tilgang.Employment{{ID: "8-1", Primary: true, Percent: 100, OrgUnit: "hr", Position: "rådgiver",
		Manager: "1547-3", Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}
	return append(ps, x, gone, auditor, adviser)
}

// world is a running `tilgang dev` with its portal, and the people above.
type world struct {
	*testenv.Env
	PortalURL string // the portal tilgang dev serves
	portalKey []byte
}

// urlCatcher catches the portal's address from dev's log.
type urlCatcher struct {
	slog.Handler
	mu  sync.Mutex
	url chan string
}

func (c *urlCatcher) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "portal (development sign-in)" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "url" {
				select {
				case c.url <- a.Value.String():
				default:
				}
			}
			return true
		})
	}
	return nil
}
func (c *urlCatcher) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *urlCatcher) WithGroup(string) slog.Handler      { return c }

func startWorld(t *testing.T) *world { return startWorldWith(t, nil) }

// startWorldWith is startWorld with a catalogue of its own (nil:
// testenv.Catalogue).
func startWorldWith(t *testing.T, catalogue map[string]string) *world {
	t.Helper()
	policies := ""
	if catalogue != nil {
		policies = testenv.WriteCatalogue(t, catalogue)
	}
	c := &urlCatcher{Handler: slog.NewTextHandler(io.Discard, nil), url: make(chan string, 1)}
	data := t.TempDir()
	writeExtraPrincipals(t, data)
	e := testenv.StartLogged(t, data, policies, slog.New(c))
	w := &world{Env: e}
	select {
	case u := <-c.url:
		w.PortalURL = strings.TrimSuffix(u, "/")
	case <-time.After(10 * time.Second):
		t.Fatal("dev did not serve the portal")
	}
	e.Joiner(people()...)
	dev := w.api(principals.DevID, "")
	for _, p := range people() {
		require.Eventually(t, func() bool {
			var info api.PersonInfo
			return dev.Call(context.Background(), api.MethodPerson, api.PersonArgs{Person: p.ID}, &info) == nil
		}, 20*time.Second, 20*time.Millisecond, "the record of %s", p.ID)
	}
	var info api.PersonInfo
	require.Eventually(t, func() bool {
		return dev.Call(context.Background(), api.MethodPerson, api.PersonArgs{Person: "1547-9"}, &info) == nil && info.Left
	}, 20*time.Second, 20*time.Millisecond, "1547-9 has left")
	return w
}

// api is a client signing with the key of signer (a dev principal) as actor.
func (w *world) api(signer, actor string) *api.Client {
	kp, err := principals.LoadSeed(filepath.Join(w.Data, "keys", signer+".nk"))
	require.NoError(w.T, err)
	if actor == "" {
		actor = signer
	}
	return &api.Client{NC: w.NC, Key: kp, Actor: actor, Via: signer, Timeout: 5 * time.Second}
}

// portal builds a portal of its own on the world's NATS, signing with the
// dev portal key; by default on localURL (loopback) with the dev sign-in
// unless it has OIDC.
func (w *world) portal(t *testing.T, o portal.Options) http.Handler {
	t.Helper()
	kp, err := principals.LoadSeed(filepath.Join(w.Data, "keys", principals.PortalSeedFile))
	require.NoError(t, err)
	dev, err := principals.LoadSeed(filepath.Join(w.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	o.NC, o.JS, o.Key = w.NC, w.JS, kp
	if o.PublicURL == "" {
		o.PublicURL = localURL
	}
	if o.SessionKeys == nil {
		o.SessionKeys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	}
	if o.Dev == nil && o.OIDC == nil && strings.HasPrefix(o.PublicURL, "http://") {
		o.Dev = &portal.DevSignIn{Key: dev, Actor: principals.DevID}
	}
	p, err := portal.New(context.Background(), o)
	require.NoError(t, err)
	return p.Handler()
}

const localURL = "http://127.0.0.1:8480"

// do sends one request to h as a browser on loopback would, with the
// cookies given, and returns the answer.
func do(h http.Handler, method, target string, form url.Values, cookies ...*http.Cookie) *http.Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, localURL+target, body)
	r.RemoteAddr = "127.0.0.1:50000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet {
		r.Header.Set("Origin", localURL)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

func bodyOf(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

// session is the session cookie an answer sets, nil when none.
func session(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if (c.Name == "tilgang" || c.Name == "__Host-tilgang") && c.MaxAge >= 0 && c.Value != "" {
			return c
		}
	}
	return nil
}

// signIn signs person in through the development sign-in.
func signIn(t *testing.T, h http.Handler, person string) *http.Cookie {
	t.Helper()
	res := do(h, http.MethodPost, "/signin/dev", url.Values{"person": {person}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, bodyOf(t, res))
	require.Equal(t, "/", res.Header.Get("Location"))
	c := session(res)
	require.NotNil(t, c, "a session cookie")
	return c
}

// request is a loopback browser's same-origin request, to change.
func request(method, target string, form url.Values) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, localURL+target, body)
	r.RemoteAddr = "127.0.0.1:50000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet {
		r.Header.Set("Origin", localURL)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	return r
}

func serve(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}
