package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// httpBrowser talks to the portal `tilgang dev` serves, over HTTP, as a
// browser would: it keeps its cookie and does not follow redirects.
type httpBrowser struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
}

func (b *httpBrowser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var r *http.Request
	var err error
	if form != nil {
		r, err = http.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r, err = http.NewRequest(method, b.base+path, nil)
	}
	require.NoError(b.t, err)
	if method != http.MethodGet {
		r.Header.Set("Origin", b.base)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.cookie != nil {
		r.AddCookie(b.cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(r)
	require.NoError(b.t, err)
	defer res.Body.Close()
	if s := session(res); s != nil {
		b.cookie = s
	}
	return res, bodyOf(b.t, res)
}

func (w *world) browser(t *testing.T, person string) *httpBrowser {
	b := &httpBrowser{t: t, base: w.PortalURL}
	res, body := b.do(http.MethodPost, "/signin/dev", url.Values{"person": {person}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.NotNil(t, b.cookie)
	return b
}

// An approval from the portal reaches the worker as a decision signed by
// portal, via portal, with the person as actor; those who may not decide
// the stage are told so and nothing is sent for them.
func TestApproveThroughThePortal(t *testing.T) {
	w := startWorld(t)
	const reason = "<b>haster</b> – ny i heimetenesta"
	id := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leder", Reason: reason})
	pending := w.Wait("approval.pending", "1547-1", testenv.ForRequest(id))
	gid := pending.Data["grant_id"].(string)

	// The manager asked, so the manager stage is the manager's manager's.
	for _, tc := range []struct{ name, person string }{
		{"an administrator, at the manager stage", "1547-20001"},
		{"the requester", "1547-2"},
		{"the person", "1547-1"},
	} {
		b := w.browser(t, tc.person)
		_, body := b.do(http.MethodGet, "/approvals", nil)
		require.NotContains(t, body, id, tc.name)
		res, body := b.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"approve"}, "comment": {"ok"}})
		require.Equal(t, http.StatusForbidden, res.StatusCode, tc.name)
		require.Contains(t, body, "Du er ikke den som skal godkjenne dette trinnet", tc.name)
	}

	b := w.browser(t, "1547-3")
	_, body := b.do(http.MethodGet, "/", nil)
	require.Contains(t, body, "/requests/"+id, "the approval waits on the first page")
	_, body = b.do(http.MethodGet, "/approvals", nil)
	require.Contains(t, body, `action="/approvals/`+id+`"`)
	require.Contains(t, body, "Begrunnelse: &lt;b&gt;haster&lt;/b&gt;", "the reason, as text")
	require.Contains(t, body, "Åse Øvergård-Bø (1547-2) ber om rollen leder i kasse for Åse Øvergård-Bø (1547-1)", "who asks, for whom")
	res, body := b.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"approve"}, "comment": {"kjenner behovet"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.Equal(t, "/approvals?sent", res.Header.Get("Location"))
	w.Wait("approval.pending", "1547-1", func(ev testenv.Event) bool { return ev.Data["grant_id"] == gid && ev.Data["stage"] == float64(2) })

	// The message as the worker took it: signed by portal for 1547-3.
	decisions := w.inMessages(t, "tilgang.in.decision.1547-1")
	require.Len(t, decisions, 1, "the refused people sent nothing")
	d := decisions[0]
	require.Equal(t, "1547-3", d.Actor)
	require.Equal(t, principals.PortalID, d.Via)
	set, err := principals.EnsureDev(w.Data)
	require.NoError(t, err)
	signer, err := set.Verify(d)
	require.NoError(t, err)
	require.Equal(t, principals.PortalID, signer)

	// The audit records the approval as 1547-3's, via portal.
	var rows []api.AuditRow
	require.NoError(t, w.api(principals.DevID, "").Audit(context.Background(), api.AuditArgs{Person: "1547-1"}, func(rs []api.AuditRow) error {
		rows = append(rows, rs...)
		return nil
	}))
	found := false
	for _, r := range rows {
		if r.GrantID == gid && r.Actor == "1547-3" && r.Via == principals.PortalID {
			found = true
		}
	}
	require.True(t, found, "an audit row of the grant by 1547-3 via portal: %+v", rows)

	// The second stage: a deny must say why, in an error summary.
	admin := w.browser(t, "1547-20001")
	res, body = admin.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"deny"}, "comment": {"  "}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body, `class="ds-error-summary"`)
	require.Contains(t, body, `href="#comment-`+id+`"`)
	require.Contains(t, body, `aria-invalid="true"`)
	res, _ = admin.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"deny"}, "comment": {"ikke <i>nødvendig</i>"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	w.Wait("grant.denied", "1547-1", testenv.ForGrant(gid))

	// The requester sees the state and the history, markup as text.
	res, body = w.browser(t, "1547-2").do(http.MethodGet, "/requests/"+id, nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "Avslått")
	require.Contains(t, body, "1547-3 (via portal)")
	require.Contains(t, body, "ikke &lt;i&gt;nødvendig&lt;/i&gt;")
	require.Contains(t, body, "&lt;b&gt;haster&lt;/b&gt;")
	require.NotContains(t, body, "<b>haster")
	require.NotContains(t, body, "<i>nødvendig")

	// Someone who may not see the request is refused with a page.
	res, body = w.browser(t, "1547-666").do(http.MethodGet, "/requests/"+id, nil)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body, "Du har ikke tilgang til dette")
}

// inMessages are the messages on subject in TILGANG_IN, decoded.
func (w *world) inMessages(t *testing.T, subject string) []*envelope.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := w.JS.OrderedConsumer(ctx, streams.In, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	require.NoError(t, err)
	var out []*envelope.Envelope
	for {
		batch, err := c.FetchNoWait(100)
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			e, err := envelope.Decode(m.Subject(), m.Data())
			require.NoError(t, err)
			out = append(out, e)
		}
		if n == 0 {
			return out
		}
	}
}

// A decision the worker rejects, though the inbox offered it (an
// administrator whose own request was attached to the grant since), is
// shown with the worker's reason.
func TestRejectedDecisionShowsWhy(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001, 1547-20002]
connectors: [noop]
roles:
  - id: admin
    entitlements: {noop: [KASSE-ADMIN]}
    requestable_by: [administrator]
    approval: [systemansvarlig]
`})
	req := envelope.Request{Action: "grant", System: "kasse", Role: "admin", Reason: "trenger å rette oppsett"}
	id := w.Send(tilgang.TypeRequest, "1547-1", "1547-20001", req)
	w.Wait("approval.pending", "1547-1", testenv.ForRequest(id))

	b := w.browser(t, "1547-20002")
	_, body := b.do(http.MethodGet, "/approvals", nil)
	require.Contains(t, body, `action="/approvals/`+id+`"`, "the other administrator may decide")

	// Now 1547-20002 asks for the same grant too: their request is attached.
	attached := w.Send(tilgang.TypeRequest, "1547-1", "1547-20002", req)
	w.Wait("request.accepted", "1547-1", testenv.ForRequest(attached))

	res, body := b.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"approve"}})
	require.Equal(t, http.StatusForbidden, res.StatusCode, body)
	require.Contains(t, body, "Tilgang avviste det du sendte")
	require.Contains(t, body, "Du har selv bestilt tilgangen og kan derfor ikke godkjenne eller avslå den.")
	require.NotContains(t, body, "may not decide", "the reason is in bokmål, not the worker's English")
}
