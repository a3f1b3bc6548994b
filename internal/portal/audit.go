package portal

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// AuditPageRows is how many rows a page of /audit shows.
const AuditPageRows = 50

// auditFilter is the filter form of /audit, as given (GET parameters
// person, system, actor, from, to; after for the page).
type auditFilter struct {
	Person, System, Actor, From, To string
}

func (f auditFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"person": f.Person, "system": f.System, "actor": f.Actor, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Query is the filter as a query string, for the export and paging links.
func (f auditFilter) Query() string { return f.query().Encode() }

type auditModel struct {
	Filter  auditFilter
	Errors  []formError
	Rows    []api.AuditRow
	Next    string // the next page's URL, "" at the end
	First   string // the first page's URL, "" on it
	CSV     string // the export's URL
	Verify  *ledger.VerifyRun
	Checked bool // the filter was valid and the rows were read
}

// readFilter reads and checks the filter; the errors name the fields.
func readFilter(r *http.Request) (auditFilter, []formError) {
	q := r.URL.Query()
	f := auditFilter{Person: strings.TrimSpace(q.Get("person")), System: strings.TrimSpace(q.Get("system")),
		Actor: strings.TrimSpace(q.Get("actor")), From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	var errs []formError
	for _, c := range []struct{ field, v, key string }{
		{"audit-person", f.Person, "audit.error.person"},
		{"audit-system", f.System, "audit.error.system"},
		{"audit-actor", f.Actor, "audit.error.actor"},
	} {
		if c.v != "" && !tilgang.ValidToken(c.v) {
			errs = append(errs, formError{Field: c.field, Text: i18n.T(c.key)})
		}
	}
	var from, to tilgang.Date
	var err error
	if f.From != "" {
		if from, err = tilgang.ParseDate(f.From); err != nil {
			errs = append(errs, formError{Field: "audit-from", Text: i18n.T("audit.error.date")})
		}
	}
	if f.To != "" {
		if to, err = tilgang.ParseDate(f.To); err != nil {
			errs = append(errs, formError{Field: "audit-to", Text: i18n.T("audit.error.date")})
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		errs = append(errs, formError{Field: "audit-to", Text: i18n.T("audit.error.order")})
	}
	return f, errs
}

func (f auditFilter) args() api.AuditArgs {
	return api.AuditArgs{Person: f.Person, System: f.System, Actor: f.Actor, Since: f.From, Until: f.To}
}

// mayReadAudit asks the API whether the person reads the whole audit
// (auditors and operators), and for the last verify run: a person who may
// not is refused with a page saying so.
func (p *Portal) mayReadAudit(w http.ResponseWriter, r *http.Request, u *who) (*ledger.VerifyRun, bool) {
	var last api.LastVerify
	err := p.client(u.ID).Call(r.Context(), api.MethodLastVerify, nil, &last)
	switch tilgang.KindOf(err) {
	case "":
		return last.Run, true
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "error.403.notauditor")
	default:
		p.apiError(w, r, err)
	}
	return nil, false
}

// audit is GET /audit: for auditors (and operators), the audit filtered
// by person, system, actor and a date range, a page at a time, with the
// export of the same rows as CSV and the result of the last audit verify.
func (p *Portal) audit(w http.ResponseWriter, r *http.Request, u *who) {
	run, ok := p.mayReadAudit(w, r, u)
	if !ok {
		return
	}
	f, errs := readFilter(r)
	m := auditModel{Filter: f, Errors: errs, Verify: run}
	if errs != nil {
		p.render(w, r, http.StatusBadRequest, "audit", i18n.T("audit.title"), m)
		return
	}
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			p.errorPage(w, r, http.StatusBadRequest, "")
			return
		}
		after = n
	}
	args := f.args()
	args.After, args.Limit = &after, AuditPageRows
	var page api.AuditPage
	if err := p.client(u.ID).Call(r.Context(), api.MethodAudit, args, &page); err != nil {
		p.apiError(w, r, err)
		return
	}
	m.Rows, m.Checked = page.Rows, true
	q := f.query()
	m.CSV = "/audit.csv"
	if len(q) > 0 {
		m.CSV += "?" + q.Encode()
	}
	if page.Next != 0 {
		q.Set("after", strconv.FormatInt(page.Next, 10))
		m.Next = "/audit?" + q.Encode()
		q.Del("after")
	}
	if after != 0 {
		m.First = "/audit"
		if len(q) > 0 {
			m.First += "?" + q.Encode()
		}
	}
	p.render(w, r, http.StatusOK, "audit", i18n.T("audit.title"), m)
}

// auditCSV is GET /audit.csv: every row the filter selects, in the
// columns of `tilgang audit --format csv` (the actor of each approval
// names its approver), cells neutralised for spreadsheets, read from the
// API a page at a time and written as it comes.
func (p *Portal) auditCSV(w http.ResponseWriter, r *http.Request, u *who) {
	if _, ok := p.mayReadAudit(w, r, u); !ok {
		return
	}
	f, errs := readFilter(r)
	if errs != nil {
		p.errorPage(w, r, http.StatusBadRequest, "audit.error.export")
		return
	}
	c := p.client(u.ID)
	// The first page before the header: an error is still a page.
	zero := int64(0)
	args := f.args()
	args.After = &zero
	var first api.AuditPage
	if err := c.Call(r.Context(), api.MethodAudit, args, &first); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tilgang-revisjon.csv"`)
	cw := csv.NewWriter(w)
	write := func(rows []api.AuditRow) error {
		for _, row := range rows {
			if err := cw.Write(csvsafe.Row(api.AuditCSVRow(row))); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if err := cw.Write(api.AuditCSVHeader); err != nil {
		return
	}
	if err := write(first.Rows); err != nil || first.Next == 0 {
		cw.Flush()
		return
	}
	args.After = &first.Next
	if err := c.Audit(r.Context(), args, write); err != nil {
		// The header is sent: the file ends short, and the log says why.
		p.o.Log.Error("portal: audit export ended early", "person", u.ID, "err", err)
	}
}
