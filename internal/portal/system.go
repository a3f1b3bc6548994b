package portal

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// SystemPageHolders is how many holders a page of /systems/{system} shows.
const SystemPageHolders = 100

type systemModel struct {
	api.SystemPage
	Role  string // the role filter, "" for all
	Next  string // the next page's URL, "" at the end
	First string // the first page's URL, "" on it
	CSV   string
	Sent  bool
	Me    string
	// Review is the system's open access review, nil when none (or when it
	// could not be read: the page shows the rest).
	Review *api.ReviewCampaign
	// Reconcile is the system's last reconciliation run in words, nil
	// when none ran.
	Reconcile *reconcileModel
}

// reconcileModel is the system page's account of the last reconciliation
// run: when and by whom, the result, and the findings by kind.
type reconcileModel struct {
	When, Result, Error, Read, Fixes string
	Failed                           bool
	Kinds                            []kindCount
}

type kindCount struct {
	Name string
	N    int
}

// reconcileView puts the run in bokmål; the held reason is the runner's
// words (reconcile.Hold), said again here.
func reconcileView(r *ledger.ReconcileRun) *reconcileModel {
	if r == nil {
		return nil
	}
	actor, mode := r.Actor, i18n.T("system.reconcile.dry")
	if actor == engine.ReconcileActor {
		actor = i18n.T("system.reconcile.schedule")
	}
	if r.Fix {
		mode = i18n.T("system.reconcile.fix")
	}
	m := &reconcileModel{When: i18n.T("system.reconcile.when", r.At.In(oslo).Format("02.01.2006 15:04"), actor, mode)}
	switch {
	case r.Error == ledger.ErasedReconcileError:
		m.Result = i18n.T("system.reconcile.failed.gone")
	case r.Error != "":
		m.Failed, m.Error, m.Result = true, r.Error, i18n.T("system.reconcile.failed")
	case r.Held:
		m.Result = i18n.T("system.reconcile.held", heldWhy(r.HeldWhy))
	case r.Counts.Total() == 0:
		m.Result = i18n.T("system.reconcile.ok")
	default:
		m.Result = i18n.T("system.reconcile.found", r.Counts.Total())
	}
	if r.Error == "" {
		m.Read = i18n.T("system.reconcile.read", r.Read.Accounts, r.Read.Members)
		m.Kinds = []kindCount{
			{i18n.T("system.reconcile.missing"), r.Counts.Missing},
			{i18n.T("system.reconcile.extra"), r.Counts.Extra},
			{i18n.T("system.reconcile.orphan"), r.Counts.Orphan},
			{i18n.T("system.reconcile.state"), r.Counts.State},
			{i18n.T("system.reconcile.disputed"), r.Counts.Disputed},
		}
	}
	if r.Fix && !r.Held && r.Error == "" {
		m.Fixes = i18n.T("system.reconcile.fixes", r.Planned, r.Fixed)
	}
	return m
}

var (
	heldCount = regexp.MustCompile(`^(\d+) removals, more than the (\d+) allowed`)
	heldShare = regexp.MustCompile(`^(\d+) removals of (\d+) accounts read, more than (\d+) %`)
)

// heldWhy says why a run held, in bokmål.
func heldWhy(why string) string {
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := heldCount.FindStringSubmatch(why); m != nil {
		return i18n.T("reconcile.held.count", num(m[1]), num(m[2]))
	}
	if m := heldShare.FindStringSubmatch(why); m != nil {
		return i18n.T("reconcile.held.share", num(m[1]), num(m[2]), m[3])
	}
	return i18n.T("reconcile.held.other")
}

// HolderCSVHeader is the header of a system's holders as CSV.
var HolderCSVHeader = []string{"system", "role", "person", "name", "state", "grant_id", "request_id", "requester", "approvers", "valid_until", "created", "updated"}

// system is GET /systems/{system}[?role=R&after=G]: for the system's
// administrators (and operators and auditors; the API decides), who holds
// which role, a page at a time, the training waiting to be confirmed and
// the manual tasks to complete, with their buttons, and the export of
// every holder as CSV.
func (p *Portal) system(w http.ResponseWriter, r *http.Request, u *who) {
	id := r.PathValue("system")
	q := r.URL.Query()
	role, after := q.Get("role"), q.Get("after")
	if !tilgang.ValidToken(id) || (role != "" && !tilgang.ValidToken(role)) || (after != "" && !tilgang.ValidToken(after)) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	page, err := p.client(u.ID).System(r.Context(), api.SystemArgs{System: id, Role: role, After: after, Limit: SystemPageHolders})
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "error.403.notadmin", id)
		return
	case tilgang.Invalid:
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	default:
		p.apiError(w, r, err)
		return
	}
	if page.Name == "" && len(page.Roles) == 0 && len(page.Holders) == 0 && len(page.Training) == 0 && len(page.Tasks) == 0 {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	m := systemModel{SystemPage: page, Role: role, Sent: q.Has("sent"), Me: u.ID, Reconcile: reconcileView(page.LastReconcile)}
	m.Review = p.openReview(r, u, id)
	base := url.Values{}
	if role != "" {
		base.Set("role", role)
	}
	m.CSV = "/systems/" + id + "/holders.csv"
	if role != "" {
		m.CSV += "?" + base.Encode()
	}
	if page.Next != "" {
		n := url.Values{"after": {page.Next}}
		if role != "" {
			n.Set("role", role)
		}
		m.Next = "/systems/" + id + "?" + n.Encode()
	}
	if after != "" {
		m.First = "/systems/" + id
		if role != "" {
			m.First += "?" + base.Encode()
		}
	}
	title := page.Name
	if title == "" {
		title = id
	}
	p.render(w, r, http.StatusOK, "system", i18n.T("system.title", title), m)
}

// systemCSV is GET /systems/{system}/holders.csv[?role=R]: every holder
// of the system (of the role), one row a grant, cells neutralised for
// spreadsheets.
func (p *Portal) systemCSV(w http.ResponseWriter, r *http.Request, u *who) {
	id, role := r.PathValue("system"), r.URL.Query().Get("role")
	if !tilgang.ValidToken(id) || (role != "" && !tilgang.ValidToken(role)) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	c := p.client(u.ID)
	// The first page before the header, so that a refusal is a page.
	first, err := c.System(r.Context(), api.SystemArgs{System: id, Role: role})
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "error.403.notadmin", id)
		return
	default:
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tilgang-`+id+`.csv"`)
	cw := csv.NewWriter(w)
	write := func(hs []api.Grant, names map[string]string) error {
		for _, g := range hs {
			row := []string{g.System, g.Role, g.Person, names[g.Person], g.State, g.ID, g.RequestID, g.Requester,
				strings.Join(g.Approvers, " "), g.ValidUntil.String(), g.Created.UTC().Format("2006-01-02T15:04:05Z"), g.Updated.UTC().Format("2006-01-02T15:04:05Z")}
			if g.ValidUntil.IsZero() {
				row[9] = ""
			}
			if err := cw.Write(csvsafe.Row(row)); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if err := cw.Write(HolderCSVHeader); err != nil {
		return
	}
	if err := write(first.Holders, first.Names); err != nil || first.Next == "" {
		return
	}
	// The pages after the first, as Client.SystemHolders walks them.
	for a := (api.SystemArgs{System: id, Role: role, After: first.Next}); a.After != ""; {
		pg, err := c.System(r.Context(), a)
		if err == nil {
			err = write(pg.Holders, pg.Names)
		}
		if err != nil {
			// The header is sent: the file ends short, and the log says why.
			p.o.Log.Error("portal: holder export ended early", "person", u.ID, "system", id, "err", err)
			return
		}
		a.After = pg.Next
	}
}

// openReview is the system's open (or closing) review campaign as the
// asker may see it, nil when there is none or it could not be read.
func (p *Portal) openReview(r *http.Request, u *who, system string) *api.ReviewCampaign {
	var cs []api.ReviewCampaign
	if err := p.client(u.ID).Call(r.Context(), api.MethodReviewList, api.ReviewListArgs{System: system}, &cs); err != nil {
		p.o.Log.Warn("portal: the system's reviews could not be read", "person", u.ID, "system", system, "err", err)
		return nil
	}
	for i := range cs {
		if cs[i].System == system && cs[i].State != "closed" {
			return &cs[i]
		}
	}
	return nil
}
