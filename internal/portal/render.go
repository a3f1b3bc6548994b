package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// The pages, each a template under templates/ rendered inside layout.html.
var pageNames = []string{"home", "new", "request", "person", "approvals", "signin", "signedout", "error", "audit", "system", "reviews", "review", "reviewreport"}

type pages struct {
	t map[string]*template.Template
}

var oslo = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Oslo"); err == nil {
		return l
	}
	return time.UTC
}()

var funcs = template.FuncMap{
	"t": i18n.T,
	// has says whether the list holds s.
	"has": func(list []string, s string) bool { return slices.Contains(list, s) },
	// rowText is a history row's text: the worker's reason in bokmål for
	// a rejection or a denial by the policy (a new grant denied, or the
	// worker denying one), else the text as written (a requester's reason,
	// an approver's comment).
	"rowText": func(r api.AuditRow) string {
		if r.Kind == "message.rejected" || (r.Kind == "grant.state" && r.To == string(tilgang.StateDenied) && (r.From == "" || r.Actor == engine.Worker)) {
			return Why(r.Text)
		}
		return r.Text
	},
	// why is the worker's reason in bokmål (reasons.go).
	"why": Why,
	"state": func(s string) string {
		if k := "state." + s; i18n.Has(k) {
			return i18n.T(k)
		}
		return s
	},
	// named is "Name (id)" when names knows id, else the id.
	"named": func(names map[string]string, id string) string {
		if n := names[id]; n != "" {
			return n + " (" + id + ")"
		}
		return id
	},
	// stages is the approval stages in words: "manager (1547-3), ...".
	"stages": func(ss []api.PlanStage) string {
		parts := make([]string, 0, len(ss))
		for _, s := range ss {
			if len(s.Who) == 0 {
				parts = append(parts, s.Kind)
				continue
			}
			parts = append(parts, s.Kind+" ("+strings.Join(s.Who, ", ")+")")
		}
		return strings.Join(parts, ", ")
	},
	"kind": func(s string) string {
		if k := "kind." + s; i18n.Has(k) {
			return i18n.T(k)
		}
		return s
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(oslo).Format("02.01.2006 15:04")
	},
	"date": func(d tilgang.Date) string {
		if d.IsZero() {
			return ""
		}
		return fmt.Sprintf("%02d.%02d.%04d", d.D, d.M, d.Y)
	},
}

func parsePages() (*pages, error) {
	ps := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", name, err)
		}
		ps.t[name] = t
	}
	return ps, nil
}

// view is what the layout needs, and the page's own model in Page.
type view struct {
	Lang  string
	Title string
	Dev   bool
	Who   *who
	Page  any
}

// render writes page with model; the whole page is rendered before a byte
// is sent, so a template failure is a clean 500.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name, title string, model any) {
	v := view{Lang: i18n.Lang, Title: title, Dev: p.o.Dev != nil, Who: current(r), Page: model}
	b := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(b)
	if err := p.pages.t[name].ExecuteTemplate(b, "layout", v); err != nil {
		p.o.Log.Error("portal: render", "page", name, "err", err)
		http.Error(w, i18n.T("error.500.body"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// pageBuffers hold rendered pages between requests: a page of 100
// approvals is some 300 KiB, and growing a new buffer to that on every
// request allocated twice as much, a good part of what made the
// garbage collector run on every page.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledPage bounds a buffer kept for the next page.
const maxPooledPage = 4 << 20

func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledPage {
		return
	}
	b.Reset()
	pageBuffers.Put(b)
}

// errorModel is the error page's.
type errorModel struct {
	Status  int
	Heading string
	Body    string
	SignIn  bool
}

// errorPage shows status as a page a person understands; key, when not
// "", is the catalogue text saying why, else the status's own text.
func (p *Portal) errorPage(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	title := fmt.Sprintf("error.%d.title", status)
	body := fmt.Sprintf("error.%d.body", status)
	if !i18n.Has(title) {
		title, body = "error.title", "error.500.body"
	}
	m := errorModel{Status: status, Heading: i18n.T(title), Body: i18n.T(body)}
	if key != "" {
		m.Body = i18n.T(key, args...)
	}
	m.SignIn = key == "error.403.signedout"
	p.render(w, r, status, "error", m.Heading, m)
}

func (p *Portal) problemPage(w http.ResponseWriter, r *http.Request, prob problem) {
	m := errorModel{Status: http.StatusForbidden, Heading: i18n.T("error." + string(prob) + ".title"), Body: i18n.T("error." + string(prob) + ".body")}
	p.render(w, r, http.StatusForbidden, "error", m.Heading, m)
}

// apiError shows what an API call's error means to a person.
func (p *Portal) apiError(w http.ResponseWriter, r *http.Request, err error) {
	switch tilgang.KindOf(err) {
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "")
	case tilgang.NotFound:
		p.errorPage(w, r, http.StatusNotFound, "")
	case tilgang.Invalid:
		p.errorPage(w, r, http.StatusBadRequest, "")
	case tilgang.Unavailable:
		p.o.Log.Warn("portal: the API does not answer", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "")
	default:
		p.fail(w, r, err)
	}
}

// fail logs err and shows the 500 page, without the error's details.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.o.Log.Error("portal: request failed", "path", r.URL.Path, "err", err)
	p.errorPage(w, r, http.StatusInternalServerError, "")
}
