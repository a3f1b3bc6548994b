package portal

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// MaxComment bounds a decision's comment (the message is at most 64 KiB).
const MaxComment = 4000

type homeModel struct {
	Me string
	// Administers and ReadsAll link the system pages and the audit.
	Administers []string
	ReadsAll    bool
	Inbox       api.Inbox
	Grants      []api.Grant
	Sent        bool
	// Reviews are the asker's undecided review items by campaign;
	// ReviewsFailed says they could not be read (the page shows the rest).
	Reviews       []reviewGroup
	ReviewsFailed bool
}

// home is GET /: what waits for me, and my access.
func (p *Portal) home(w http.ResponseWriter, r *http.Request, u *who) {
	c := p.client(u.ID)
	m := homeModel{Me: u.ID, Administers: u.Administers, ReadsAll: u.ReadsAll}
	if err := c.Call(r.Context(), api.MethodInbox, nil, &m.Inbox); err != nil {
		p.apiError(w, r, err)
		return
	}
	var err error
	if m.Grants, err = c.GrantsAll(r.Context(), api.GrantsArgs{Person: u.ID}); err != nil {
		p.apiError(w, r, err)
		return
	}
	if m.Reviews, err = p.myReviews(r.Context(), u.ID); err != nil {
		p.o.Log.Warn("portal: the review items could not be read", "person", u.ID, "err", err)
		m.ReviewsFailed = true
	}
	m.Sent = r.URL.Query().Has("sent")
	p.render(w, r, http.StatusOK, "home", i18n.T("home.title"), m)
}

type requestModel struct {
	Status  api.Status
	Grant   *api.GrantDetail
	History []api.AuditRow
}

// request is GET /requests/{request_id}: a request's state and history.
func (p *Portal) request(w http.ResponseWriter, r *http.Request, u *who) {
	id := r.PathValue("request_id")
	if !envelope.IsRequestID(id) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	c := p.client(u.ID)
	var m requestModel
	if err := c.Call(r.Context(), api.MethodStatus, api.StatusArgs{RequestID: id}, &m.Status); err != nil {
		p.apiError(w, r, err)
		return
	}
	if m.Status.State == api.StateUnknown {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	if m.Status.GrantID != "" {
		var g api.GrantDetail
		if err := c.Call(r.Context(), api.MethodGrant, api.GrantArgs{GrantID: m.Status.GrantID}, &g); err == nil {
			m.Grant = &g
		} else if tilgang.KindOf(err) != tilgang.Denied {
			p.apiError(w, r, err)
			return
		}
	}
	if m.Status.Person != "" {
		var page api.AuditPage
		after := int64(0)
		err := c.Call(r.Context(), api.MethodAudit, api.AuditArgs{Person: m.Status.Person, After: &after}, &page)
		if err != nil && tilgang.KindOf(err) != tilgang.Denied {
			p.apiError(w, r, err)
			return
		}
		for _, row := range page.Rows {
			if row.RequestID == id || (m.Status.GrantID != "" && row.GrantID == m.Status.GrantID) {
				m.History = append(m.History, row)
			}
		}
	}
	p.render(w, r, http.StatusOK, "request", i18n.T("request.title"), m)
}

type personModel struct {
	Administers []string // the viewer's systems, linked from the grants
	Person      api.PersonInfo
	Grants      []api.Grant
	History     []api.AuditRow
	More        bool // the history goes on past the rows shown
}

// MaxHistory is how many audit rows a person's page shows, newest last.
const MaxHistory = 200

// person is GET /people/{person}: a person's grants and history, for
// whoever may see them (the person, their manager, administrators of the
// systems, operators and auditors; the API decides).
func (p *Portal) person(w http.ResponseWriter, r *http.Request, u *who) {
	id := r.PathValue("person")
	if !tilgang.ValidToken(id) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	c := p.client(u.ID)
	m := personModel{Administers: u.Administers}
	m.Person.ID = id
	var err error
	if m.Grants, err = c.GrantsAll(r.Context(), api.GrantsArgs{Person: id}); err != nil {
		p.apiError(w, r, err)
		return
	}
	// The record itself is visible to fewer (the person and their
	// manager); an administrator sees the grants in their systems only.
	if err := c.Call(r.Context(), api.MethodPerson, api.PersonArgs{Person: id}, &m.Person); err != nil {
		switch tilgang.KindOf(err) {
		case tilgang.Denied, tilgang.NotFound:
			m.Person = api.PersonInfo{ID: id}
		default:
			p.apiError(w, r, err)
			return
		}
	}
	err = c.Audit(r.Context(), api.AuditArgs{Person: id}, func(rows []api.AuditRow) error {
		m.History = append(m.History, rows...)
		if len(m.History) > MaxHistory {
			m.History, m.More = m.History[len(m.History)-MaxHistory:], true
		}
		return nil
	})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	if len(m.Grants) == 0 && len(m.History) == 0 && m.Person.Name() == id && id != u.ID {
		// Nothing visible: as for anyone the asker may not see.
		p.errorPage(w, r, http.StatusForbidden, "")
		return
	}
	p.render(w, r, http.StatusOK, "person", i18n.T("person.title", m.Person.Name()), m)
}

type approvalsModel struct {
	Approvals []api.Approval
	Names     map[string]string
	Sent      bool
	formState // ErrorFor is the request id whose form failed
}

type formError struct {
	Field string // the id of the input it is about
	Text  string
}

// formState is what a page of one form per item knows of the form that
// failed: the item it was about (ErrorFor), its errors, for the error
// summary, and the comment written.
type formState struct {
	ErrorFor string
	Errors   []formError
	Comment  string
}

// commentField is one form's comment field, the template "comment": its
// textarea's id (its help and error are ID-help and ID-error), and the
// errors and comment when it is the form that failed.
type commentField struct {
	ID, Label, Help string
	Failed          bool
	Errors          []formError
	Comment         string
}

// Field is the comment field with id of the form about item.
func (f formState) Field(id, item, label, help string) commentField {
	c := commentField{ID: id, Label: label, Help: help}
	if f.ErrorFor == item {
		c.Failed, c.Errors, c.Comment = true, f.Errors, f.Comment
	}
	return c
}

// approvals is GET /approvals: the inbox's approvals with their forms.
func (p *Portal) approvals(w http.ResponseWriter, r *http.Request, u *who) {
	in, err := p.inbox(r.Context(), u.ID)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "approvals", i18n.T("approvals.title"),
		approvalsModel{Approvals: in.Approvals, Names: in.Names, Sent: r.URL.Query().Has("sent")})
}

func (p *Portal) inbox(ctx context.Context, person string) (api.Inbox, error) {
	var in api.Inbox
	err := p.client(person).Call(ctx, api.MethodInbox, nil, &in)
	return in, err
}

// decide is POST /approvals/{request_id}: approve or deny the grant that
// request opened, as a decision message signed by the portal for the
// person. A person the inbox does not name as the stage's approver is
// refused here; a decision the worker rejects shows its reason.
func (p *Portal) decide(w http.ResponseWriter, r *http.Request, u *who) {
	id := r.PathValue("request_id")
	if !envelope.IsRequestID(id) {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	decision := r.PostFormValue("decision")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if decision != envelope.DecisionApprove && decision != envelope.DecisionDeny {
		p.errorPage(w, r, http.StatusBadRequest, "")
		return
	}
	in, err := p.inbox(r.Context(), u.ID)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	var g *api.Approval
	for i := range in.Approvals {
		if in.Approvals[i].RequestID == id {
			g = &in.Approvals[i]
		}
	}
	if g == nil {
		p.errorPage(w, r, http.StatusForbidden, "error.403.notapprover")
		return
	}
	var errs []formError
	switch {
	case decision == envelope.DecisionDeny && comment == "":
		errs = append(errs, formError{Field: "comment-" + id, Text: i18n.T("approvals.error.deny")})
	case utf8.RuneCountInString(comment) > MaxComment || !utf8.ValidString(comment):
		errs = append(errs, formError{Field: "comment-" + id, Text: i18n.T("approvals.error.long")})
	}
	if errs != nil {
		p.render(w, r, http.StatusBadRequest, "approvals", i18n.T("approvals.title"),
			approvalsModel{Approvals: in.Approvals, Names: in.Names, formState: formState{ErrorFor: id, Errors: errs, Comment: comment}})
		return
	}
	p.sendAndShow(w, r, u, tilgang.TypeDecision, g.Person, envelope.Decision{RequestID: id, Decision: decision, Comment: comment}, "/approvals?sent")
}

// sendAndShow sends one message for the person signed in, waits for the
// worker to record it and then sends the browser on to next (303), or
// shows the worker's reason when it rejected the message.
func (p *Portal) sendAndShow(w http.ResponseWriter, r *http.Request, u *who, typ, person string, data any, next string) {
	p.sendAndGo(w, r, u, typ, person, data, func(string) string { return next })
}

// sendAndGo is sendAndShow with the next page made from the request id
// of what was sent; a denied request shows the policy's reason.
func (p *Portal) sendAndGo(w http.ResponseWriter, r *http.Request, u *who, typ, person string, data any, next func(requestID string) string) {
	sent, err := p.send(r.Context(), typ, person, u.ID, data)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	st, err := p.waitStatus(r.Context(), u.ID, sent)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	// The message's own outcome, not its grant's state: a deny decision
	// accepted leaves its grant denied.
	switch st.Outcome {
	case "rejected":
		p.errorPage(w, r, http.StatusForbidden, "error.403.refused", Why(st.Why))
		return
	case "denied":
		p.errorPage(w, r, http.StatusForbidden, "error.403.denied", Why(st.Why))
		return
	}
	http.Redirect(w, r, next(sent), http.StatusSeeOther)
}

type newRequestModel struct {
	Person string
	Plan   *api.PlanResult
	Error  string // why the plan could not be shown
}

// newRequest is GET /requests/new[?person=ID]: whom to ask for, then what
// the policy would decide for each role the asker may see (the plan:
// stages, training, end date, conflicts), with a form for each role that
// may be asked for.
func (p *Portal) newRequest(w http.ResponseWriter, r *http.Request, u *who) {
	m := newRequestModel{Person: strings.TrimSpace(r.URL.Query().Get("person"))}
	if m.Person == "" {
		m.Person = u.ID
	}
	if !tilgang.ValidToken(m.Person) {
		m.Error = i18n.T("new.error.person")
		p.render(w, r, http.StatusBadRequest, "new", i18n.T("new.title"), m)
		return
	}
	var plan api.PlanResult
	err := p.client(u.ID).Call(r.Context(), api.MethodPlan, api.PlanArgs{Person: m.Person}, &plan)
	switch tilgang.KindOf(err) {
	case "":
		m.Plan = &plan
	case tilgang.Denied, tilgang.NotFound:
		m.Error = i18n.T("new.error.notyours", m.Person)
	default:
		p.apiError(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "new", i18n.T("new.title"), m)
}

// createRequest is POST /requests: a grant request for the person, system
// and role in the form, with its reason and an optional last day; then
// the request's page, or why the worker rejected or the policy denied it.
func (p *Portal) createRequest(w http.ResponseWriter, r *http.Request, u *who) {
	person, system, role := r.PostFormValue("person"), r.PostFormValue("system"), r.PostFormValue("role")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if !tilgang.ValidToken(person) || !tilgang.ValidToken(system) || !tilgang.ValidToken(role) {
		p.errorPage(w, r, http.StatusBadRequest, "")
		return
	}
	switch {
	case reason == "":
		p.errorPage(w, r, http.StatusBadRequest, "new.error.reason")
		return
	case utf8.RuneCountInString(reason) > MaxComment || !utf8.ValidString(reason):
		p.errorPage(w, r, http.StatusBadRequest, "approvals.error.long")
		return
	}
	req := envelope.Request{Action: envelope.ActionGrant, System: system, Role: role, Reason: reason}
	if s := strings.TrimSpace(r.PostFormValue("valid_until")); s != "" {
		d, err := tilgang.ParseDate(s)
		if err != nil || d.Before(tilgang.DateOf(p.o.Now())) {
			p.errorPage(w, r, http.StatusBadRequest, "new.error.until")
			return
		}
		req.ValidUntil = d
	}
	p.sendAndGo(w, r, u, tilgang.TypeRequest, person, req, func(id string) string { return "/requests/" + id })
}

// confirmTraining is POST /training: an administrator confirms that the
// person in the form has been trained for the system's role, as a
// training message; only for a grant the inbox lists as waiting for it.
func (p *Portal) confirmTraining(w http.ResponseWriter, r *http.Request, u *who) {
	person, system, role := r.PostFormValue("person"), r.PostFormValue("system"), r.PostFormValue("role")
	if !tilgang.ValidToken(person) || !tilgang.ValidToken(system) || !tilgang.ValidToken(role) {
		p.errorPage(w, r, http.StatusBadRequest, "")
		return
	}
	in, err := p.inbox(r.Context(), u.ID)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	if !slices.ContainsFunc(in.Training, func(g api.Grant) bool { return g.Person == person && g.System == system && g.Role == role }) {
		p.errorPage(w, r, http.StatusForbidden, "error.403.nottraining")
		return
	}
	p.sendAndShow(w, r, u, tilgang.TypeTraining, person, envelope.Training{System: system, Role: role}, backTo(r, system))
}

// completeTask is POST /tasks/{operation_id}: an administrator reports a
// manual task done or failed, as a task message; only for a task the
// inbox lists as theirs.
func (p *Portal) completeTask(w http.ResponseWriter, r *http.Request, u *who) {
	id := r.PathValue("operation_id")
	outcome := r.PostFormValue("outcome")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if outcome != envelope.OutcomeDone && outcome != envelope.OutcomeFailed {
		p.errorPage(w, r, http.StatusBadRequest, "")
		return
	}
	if utf8.RuneCountInString(comment) > MaxComment || !utf8.ValidString(comment) {
		p.errorPage(w, r, http.StatusBadRequest, "approvals.error.long")
		return
	}
	in, err := p.inbox(r.Context(), u.ID)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	i := slices.IndexFunc(in.Tasks, func(t api.Task) bool { return t.OperationID == id })
	if i < 0 {
		p.errorPage(w, r, http.StatusForbidden, "error.403.nottask")
		return
	}
	p.sendAndShow(w, r, u, tilgang.TypeTask, in.Tasks[i].Person, envelope.Task{OperationID: id, Outcome: outcome, Comment: comment}, backTo(r, in.Tasks[i].System))
}

// backTo is where a training or task form returns to: the system's page
// when the form came from there (field return=system), else /.
func backTo(r *http.Request, system string) string {
	if r.PostFormValue("return") == "system" {
		if s := r.PostFormValue("system"); tilgang.ValidToken(s) {
			system = s
		}
		if tilgang.ValidToken(system) {
			return "/systems/" + system + "?sent"
		}
	}
	return "/?sent"
}

// send signs and publishes one message for actor; it returns the request id.
func (p *Portal) send(ctx context.Context, typ, person, actor string, data any) (string, error) {
	e, err := p.sender.New(typ, person, actor, data)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return client.Publish(ctx, p.o.JS, e)
}

// waitStatus polls the status of a message the person sent until the
// worker has recorded it, or Wait has passed (then unknown).
func (p *Portal) waitStatus(ctx context.Context, person, id string) (api.Status, error) {
	c := p.client(person)
	deadline := time.Now().Add(p.o.Wait)
	delay := 25 * time.Millisecond
	for {
		var st api.Status
		if err := c.Call(ctx, api.MethodStatus, api.StatusArgs{RequestID: id}, &st); err != nil {
			return st, err
		}
		if st.State != api.StateUnknown || time.Now().Add(delay).After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}
