package portal

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// The access register's pages (DESIGN.md "Access reviews and the access
// register"): /systems/{system}/register for the system's administrators,
// operators and auditors, linked from the system's page, and
// /people/{person}/register for the person, their manager, operators and
// auditors (administrators see their systems' rows), linked from the
// person's page. Each asks for one date, or a period of dates, or nothing
// (now), shows a page of the register, and exports all of it as CSV.

// RegisterPageRows is how many entries a page of the register shows.
const RegisterPageRows = 100

func init() {
	pageNames = append(pageNames, "register")
	// registerUntil is an entry's end, or that it is still held.
	funcs["registerUntil"] = func(t *time.Time) string {
		if t == nil {
			return i18n.T("register.held")
		}
		return t.In(oslo).Format("02.01.2006 15:04")
	}
}

// registerRoutes adds the register's pages to mux.
func (p *Portal) registerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /systems/{system}/register", p.signedIn(p.register))
	mux.HandleFunc("GET /systems/{system}/register.csv", p.signedIn(p.registerCSV))
	mux.HandleFunc("GET /people/{person}/register", p.signedIn(p.register))
	mux.HandleFunc("GET /people/{person}/register.csv", p.signedIn(p.registerCSV))
}

// registerForm is the register page's form, as given (GET parameters at,
// from and to; after for the page).
type registerForm struct {
	At, From, To string
}

func (f registerForm) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"at": f.At, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

type registerModel struct {
	System  string // the system's register, or
	Person  string // the person's
	Heading string
	Back    string // the system's or the person's page
	Form    registerForm
	Errors  []formError
	Period  string // what the entries answer, in words
	Entries []api.AccessEntry
	Names   map[string]string
	Next    string
	First   string
	CSV     string
}

// readRegisterForm reads and checks the form at now; the errors name the
// fields, in the catalogue's words.
func readRegisterForm(r *http.Request, now time.Time) (registerForm, []formError) {
	q := r.URL.Query()
	f := registerForm{At: strings.TrimSpace(q.Get("at")), From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	var errs []formError
	add := func(field, key string, args ...any) {
		errs = append(errs, formError{Field: field, Text: i18n.T(key, args...)})
	}
	if f.At != "" && (f.From != "" || f.To != "") {
		add("register-at", "register.error.both")
		return f, errs
	}
	var at, from, to tilgang.Date
	var err error
	if f.At != "" {
		if at, err = tilgang.ParseDate(f.At); err != nil {
			if _, terr := time.Parse(time.RFC3339Nano, f.At); terr != nil {
				add("register-at", "audit.error.date")
			}
		}
	}
	if f.From != "" {
		if from, err = tilgang.ParseDate(f.From); err != nil {
			add("register-from", "audit.error.date")
		}
	} else if f.To != "" {
		add("register-from", "register.error.pair")
	}
	if f.To != "" {
		if to, err = tilgang.ParseDate(f.To); err != nil {
			add("register-to", "audit.error.date")
		}
	} else if f.From != "" {
		add("register-to", "register.error.pair")
	}
	if errs != nil {
		return f, errs
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		add("register-to", "audit.error.order")
	}
	today := tilgang.DateOf(now)
	if !at.IsZero() && today.Before(at) {
		add("register-at", "register.error.future")
	}
	if !from.IsZero() && today.Before(from) {
		add("register-from", "register.error.future")
	}
	if errs == nil {
		// What the form does not judge (an RFC 3339 time in the address),
		// the API's own rule does.
		if _, _, err := api.AccessPeriod(f.At, f.From, f.To, now, api.ArgNames); err != nil {
			add("register-at", "register.error.time")
		}
	}
	return f, errs
}

// registerScope is whose register the address names: a system's or a
// person's, and the pages that go with it.
func registerScope(r *http.Request) (system, person string, ok bool) {
	system, person = r.PathValue("system"), r.PathValue("person")
	if system != "" {
		return system, "", tilgang.ValidToken(system)
	}
	return "", person, tilgang.ValidToken(person)
}

// registerRefused shows why the register was refused, as a page.
func (p *Portal) registerRefused(w http.ResponseWriter, r *http.Request, system, person string) {
	if system != "" {
		p.errorPage(w, r, http.StatusForbidden, "error.403.notregister", system)
		return
	}
	p.errorPage(w, r, http.StatusForbidden, "error.403.notregister.person", person)
}

// register is GET /systems/{system}/register and /people/{person}/register
// [?at=D | ?from=D&to=D][&after=G].
func (p *Portal) register(w http.ResponseWriter, r *http.Request, u *who) {
	system, person, ok := registerScope(r)
	after := r.URL.Query().Get("after")
	if !ok || (after != "" && !tilgang.ValidToken(after)) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	f, errs := readRegisterForm(r, time.Now())
	m := registerModel{System: system, Person: person, Form: f, Errors: errs, Names: map[string]string{}}
	base := "/people/" + person
	m.Heading = i18n.T("register.person.title", person)
	if system != "" {
		base = "/systems/" + system
		m.Heading = i18n.T("register.system.title", system)
	}
	m.Back = base
	if errs != nil {
		// A person who may not read the register learns that first.
		args := api.AccessArgs{System: system, Person: person, Limit: 1}
		if err := p.client(u.ID).Call(r.Context(), api.MethodReportAccess, args, nil); tilgang.KindOf(err) == tilgang.Denied {
			p.registerRefused(w, r, system, person)
			return
		}
		p.render(w, r, http.StatusBadRequest, "register", m.Heading, m)
		return
	}
	args := api.AccessArgs{System: system, Person: person, At: f.At, From: f.From, To: f.To, Limit: RegisterPageRows, After: after}
	var page api.AccessPage
	err := p.client(u.ID).Call(r.Context(), api.MethodReportAccess, args, &page)
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		p.registerRefused(w, r, system, person)
		return
	case tilgang.Invalid:
		if after != "" {
			p.errorPage(w, r, http.StatusNotFound, "")
			return
		}
		p.apiError(w, r, err)
		return
	default:
		p.apiError(w, r, err)
		return
	}
	m.Entries, m.Names = page.Entries, page.Names
	m.Period = periodWords(f, page)
	q := f.query()
	m.CSV = base + "/register.csv"
	if len(q) > 0 {
		m.CSV += "?" + q.Encode()
	}
	if page.Next != "" {
		q.Set("after", page.Next)
		m.Next = base + "/register?" + q.Encode()
		q.Del("after")
	}
	if after != "" {
		m.First = base + "/register"
		if len(q) > 0 {
			m.First += "?" + q.Encode()
		}
	}
	p.render(w, r, http.StatusOK, "register", m.Heading, m)
}

// periodWords is what a page of the register answers, in words.
func periodWords(f registerForm, page api.AccessPage) string {
	if f.From != "" {
		return i18n.T("register.period.range", osloDate(page.From), osloDate(page.To))
	}
	if d, err := tilgang.ParseDate(f.At); err == nil {
		return i18n.T("register.period.day", osloDate(d.Start()))
	}
	return i18n.T("register.period.at", page.From.In(oslo).Format("02.01.2006 15:04:05"))
}

func osloDate(t time.Time) string { return t.In(oslo).Format("02.01.2006") }

// registerCSV is GET .../register.csv[?at=D | ?from=D&to=D]: every entry,
// in the columns of `tilgang report access --format csv`, cells
// neutralised for spreadsheets, read a page at a time and written as it
// comes.
func (p *Portal) registerCSV(w http.ResponseWriter, r *http.Request, u *who) {
	system, person, ok := registerScope(r)
	if !ok {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	f, errs := readRegisterForm(r, time.Now())
	if errs != nil {
		p.errorPage(w, r, http.StatusBadRequest, "register.error.export")
		return
	}
	c := p.client(u.ID)
	args := api.AccessArgs{System: system, Person: person, At: f.At, From: f.From, To: f.To}
	// The first page before the header: a refusal is still a page.
	var first api.AccessPage
	err := c.Call(r.Context(), api.MethodReportAccess, args, &first)
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		p.registerRefused(w, r, system, person)
		return
	default:
		p.apiError(w, r, err)
		return
	}
	name := system + person
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tilgangsregister-`+name+`.csv"`)
	cw := csv.NewWriter(w)
	write := func(pg api.AccessPage) error {
		for _, e := range pg.Entries {
			if err := cw.Write(csvsafe.Row(api.AccessCSVRow(e, pg.Names))); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if err := cw.Write(api.AccessCSVHeader); err != nil {
		return
	}
	if err := write(first); err != nil || first.Next == "" {
		return
	}
	args.After = first.Next
	if err := c.AccessRegister(r.Context(), args, write); err != nil {
		// The header is sent: the file ends short, and the log says why.
		p.o.Log.Error("portal: register export ended early", "person", u.ID, "system", system, "of", person, "err", err)
	}
}
