// Package notify tells people by e-mail what waits for them (DESIGN.md
// "Notifications"). It reads the events the ledger committed, finds who
// is to be told from the ledger and the catalogue (the approvers of the
// stage, the system's administrators and coordinator, the requester, the
// person, the manager), and makes each mail once: the whole message, with
// a Message-ID derived from the event and the recipient, is stored in the
// ledger's mail outbox in the same transaction that marks the events read
// (ledger.Mailbox). A second loop hands the queued mails to the SMTP
// server one at a time and records each as sent, so a crash (kill -9)
// repeats at most the one mail in flight, with the same bytes and the same
// Message-ID. A mail the server cannot take now (it is down, it says 4xx)
// is deferred with backoff and sent when the server is back; one it refuses
// for good (5xx to the recipient or the message) is failed.
//
// A mail names what waits (the kind, the system and role, the person's
// name) and links to the portal page where the recipient acts; it never
// carries a reason, a comment or a secret. A person who would get more
// than a handful of mails from one read of the events gets one digest. A
// person with no e-mail address gets none, and the administrators of the
// system concerned are told so once (per person and administrator).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/crashpoint"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// Sender hands one message to an SMTP server.
type Sender interface {
	// Send delivers msg from from to to. An error that Permanent reports
	// is a refusal for good; any other means try again later.
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Outbox is what the notifier needs of the ledger.
type Outbox interface {
	ledger.Reader
	ledger.Mailbox
}

// Notifier turns committed events into mails and sends them.
type Notifier struct {
	Ledger    Outbox
	Catalogue func() *policy.Catalogue
	// Sender sends the mail; nil means no SMTP server is configured:
	// events are read and nobody is mailed (logged once).
	Sender Sender
	// From is the sender's address (notify.from).
	From string
	// PublicURL is the portal's address, the base of every link.
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
	// Digest is the most mails one person gets from one read of the
	// events; more become one digest (default 5).
	Digest int
	// RetryMin and RetryMax bound the backoff of deferred mail (default
	// 30 s and 15 min).
	RetryMin, RetryMax time.Duration
	// Observe, when set, is told each attempt's outcome: sent, deferred,
	// failed (metrics).
	Observe func(outcome string)

	once      sync.Once
	warnOnce  sync.Once // the log line about no SMTP server, once per process
	wake      chan struct{}
	pauseTill time.Time // the server was unreachable: no attempt before
}

func (n *Notifier) init() {
	n.once.Do(func() {
		n.wake = make(chan struct{}, 1)
		if n.Digest <= 0 {
			n.Digest = 5
		}
		if n.RetryMin <= 0 {
			n.RetryMin = 30 * time.Second
		}
		if n.RetryMax <= 0 {
			n.RetryMax = 15 * time.Minute
		}
		if n.Now == nil {
			n.Now = time.Now
		}
		if n.Log == nil {
			n.Log = slog.Default()
		}
	})
}

// Wake says new events may be waiting. It never blocks.
func (n *Notifier) Wake() {
	n.init()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run reads events and sends mail until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	n.init()
	if n.Sender == nil {
		n.warnOnce.Do(func() {
			n.Log.Warn("notify: no SMTP server configured (notify.smtp): no e-mail is sent; events are read and nobody is told")
		})
	}
	for ctx.Err() == nil {
		read, err := n.Read(ctx)
		if err != nil && ctx.Err() == nil {
			n.Log.Warn("notify: events not read yet", "err", err)
		}
		sent, err := n.Send(ctx)
		if err != nil && ctx.Err() == nil {
			n.Log.Warn("notify: mail not sent yet", "err", err)
		}
		if (read > 0 || sent > 0) && err == nil {
			continue
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-n.wake:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// Read turns one batch of committed events into queued mails and marks
// them read; it returns how many events it read.
func (n *Notifier) Read(ctx context.Context) (int, error) {
	n.init()
	evs, err := n.Ledger.PendingNotifications(ctx, 256)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	ids := make([]int64, 0, len(evs))
	var letters []letter
	for _, ev := range evs {
		ids = append(ids, ev.ID)
		if n.Sender == nil {
			continue
		}
		ls, err := n.letters(ctx, ev)
		if err != nil {
			return 0, fmt.Errorf("notify: event %d (%s): %w", ev.ID, ev.Kind, err)
		}
		letters = append(letters, ls...)
	}
	letters = n.digests(unique(letters))
	from := mail.Address{Name: T("from.name"), Address: n.From}
	mails := make([]ledger.Mail, 0, len(letters))
	now := n.Now().UTC()
	for _, l := range letters {
		msg, msgID, err := compose(l, from, n.domain())
		if err != nil {
			return 0, err
		}
		mails = append(mails, ledger.Mail{Key: l.key, EventID: l.eventID, Kind: l.v.Kind, Recipient: l.recipient, Address: l.address,
			MessageID: msgID, Message: msg, Created: now, NextAt: now})
	}
	crashpoint.Here("notify.before-queue")
	if err := n.Ledger.QueueMails(ctx, ids, mails); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// domain is the right-hand side of Message-IDs: the portal's host.
func (n *Notifier) domain() string {
	if u, err := url.Parse(n.PublicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "tilgang.invalid"
}

// Send hands due mails to the SMTP server, one at a time, each recorded
// before the next; it returns how many were sent.
func (n *Notifier) Send(ctx context.Context) (int, error) {
	n.init()
	if n.Sender == nil {
		return 0, nil
	}
	now := n.Now()
	if now.Before(n.pauseTill) {
		return 0, nil
	}
	due, err := n.Ledger.DueMails(ctx, now, 32)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range due {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		crashpoint.Here("notify.before-send")
		err := n.Sender.Send(ctx, n.From, []string{m.Address}, m.Message)
		if err == nil {
			crashpoint.Here("notify.after-send") // handed over, not yet recorded: this one mail repeats
			if err := n.Ledger.MailSent(context.WithoutCancel(ctx), m.ID, n.Now().UTC()); err != nil {
				return sent, err
			}
			sent++
			n.observe("sent")
			continue
		}
		if Permanent(err) {
			n.Log.Error("notify: mail refused for good", "mail", m.ID, "recipient", m.Recipient, "kind", m.Kind, "err", err)
			if err := n.Ledger.MailDeferred(context.WithoutCancel(ctx), m.ID, time.Time{}, err.Error()); err != nil {
				return sent, err
			}
			n.observe("failed")
			continue
		}
		next := n.Now().Add(n.backoff(m.Attempts))
		n.Log.Warn("notify: mail deferred; the SMTP server does not take it now", "mail", m.ID, "recipient", m.Recipient,
			"attempts", m.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", err)
		if err := n.Ledger.MailDeferred(context.WithoutCancel(ctx), m.ID, next.UTC(), err.Error()); err != nil {
			return sent, err
		}
		n.observe("deferred")
		// The server is down or busy: wait before trying the next one.
		n.pauseTill = n.Now().Add(n.RetryMin)
		return sent, nil
	}
	return sent, nil
}

func (n *Notifier) observe(outcome string) {
	if n.Observe != nil {
		n.Observe(outcome)
	}
}

func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.RetryMin
	for i := 0; i < attempts && d < n.RetryMax; i++ {
		d *= 2
	}
	return min(d, n.RetryMax)
}

// --- who is told ---

func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x != "" {
			return []string{x}
		}
	}
	return nil
}

func str(d map[string]any, k string) string {
	s, _ := d[k].(string)
	return s
}

func num(d map[string]any, k string) int {
	switch x := d[k].(type) {
	case float64:
		return int(x)
	case int:
		return x
	case int64:
		return int(x)
	}
	return 0
}

func name(p *tilgang.Person) string {
	if p == nil {
		return T("unknown.name")
	}
	return strings.TrimSpace(p.GivenName + " " + p.FamilyName)
}

// letters are the mails one event makes, to everyone it concerns who has
// an address; for those who have none, the notice to the system's
// administrators.
func (n *Notifier) letters(ctx context.Context, ev ledger.Event) ([]letter, error) {
	d := ev.Data
	system, role := str(d, "system"), str(d, "role")
	var (
		to   []string
		may  []string // who may decide what the mail is about
		path string
		v    = view{Kind: ev.Kind, Role: role, System: system, PersonID: ev.Person, Days: num(d, "days")}
	)
	var sys *policy.System
	if cat := n.Catalogue(); cat != nil && system != "" {
		if s, ok := cat.System(system); ok {
			sys = s
			if s.Name != "" {
				v.System = s.Name
			}
		}
	}
	requestLink := "/"
	if id := str(d, "request_id"); id != "" {
		requestLink = "/requests/" + url.PathEscape(id)
	}
	systemLink := "/"
	if system != "" {
		systemLink = "/systems/" + url.PathEscape(system)
	}
	switch ev.Kind {
	case tilgang.EvApprovalPending, EvApprovalReminded:
		to, path = strs(d["approvers"]), "/approvals"
		if st := num(d, "stage"); st > 0 {
			v.Stage = T("stage", st, num(d, "stages"))
		}
	case EvApprovalEscalated:
		to, path = strs(d["to"]), "/approvals"
	case tilgang.EvTrainingPending:
		to, path = strs(d["administrators"]), systemLink
	case tilgang.EvTaskManual, EvTaskReminded, EvTaskEscalated:
		to, path = strs(d["administrators"]), systemLink
		if ev.Kind == EvTaskEscalated {
			to = strs(d["to"])
		}
		v.Credential = str(d, "kind") == "hand_out_credential"
		v.Task = taskText(str(d, "kind"))
		if p := str(d, "person"); p != "" {
			v.PersonID = p
		}
	case tilgang.EvGrantActive, tilgang.EvGrantDenied, tilgang.EvGrantFailed:
		path = requestLink
		if g, err := n.Ledger.Grant(ctx, str(d, "grant_id")); err != nil {
			return nil, err
		} else if g != nil && g.Requester != "" {
			to = append(to, g.Requester)
		}
		to = append(to, ev.Person)
	case tilgang.EvCredentialIssued:
		to, path = strs(d["recipient"]), requestLink
		v.Username = str(d, "username")
	case tilgang.EvReviewStarted, tilgang.EvReviewReminded, tilgang.EvReviewEscalated:
		path = "/reviews/" + url.PathEscape(str(d, "campaign_id"))
		v.Count = num(d, "items")
		if t, err := time.Parse(time.RFC3339, str(d, "ends_at")); err == nil {
			v.Until = t.In(tilgang.Oslo).Format("02.01.2006")
		}
		to = []string{ev.Person}
		if ev.Kind == tilgang.EvReviewEscalated {
			// Told: the level above, who may decide (a manager's manager)
			// or is told to follow up (administrators, the coordinator).
			to = strs(d["to"])
			if str(d, "reviewer_kind") == "manager" {
				may = to
			}
		}
	case EvPersonLeft:
		path = "/people/" + url.PathEscape(ev.Person)
		if p, err := n.Ledger.Person(ctx, ev.Person); err != nil {
			return nil, err
		} else if p != nil && p.Person.Manager() != "" {
			to = append(to, p.Person.Manager())
		}
	case EvPersonMoved:
		to, path = strs(d["managers"]), "/people/"+url.PathEscape(ev.Person)
		v.From, v.To = unitText(str(d, "org_unit_from"), str(d, "position_from")), unitText(str(d, "org_unit_to"), str(d, "position_to"))
	default:
		return nil, nil
	}
	if len(to) == 0 {
		return nil, nil
	}
	subject, err := n.Ledger.Person(ctx, v.PersonID)
	if err != nil {
		return nil, err
	}
	var subjectPerson *tilgang.Person
	if subject != nil {
		subjectPerson = &subject.Person
	}
	v.Person = name(subjectPerson)
	v.Link = n.link(path)
	if may == nil {
		may = strs(d["approvers"])
	}
	var out []letter
	seen := map[string]bool{}
	for _, r := range to {
		if seen[r] {
			continue
		}
		seen[r] = true
		row, err := n.Ledger.Person(ctx, r)
		if err != nil {
			return nil, err
		}
		if row == nil {
			continue // a service principal (hr, a portal): nobody to mail
		}
		if strings.TrimSpace(row.Person.Email) == "" {
			notices, err := n.noEmail(ctx, ev, row, sys)
			if err != nil {
				return nil, err
			}
			out = append(out, notices...)
			continue
		}
		lv := v
		lv.Name = name(&row.Person)
		lv.MayApprove = slices.Contains(may, r)
		lv.Completes = sys != nil && sys.IsAdministrator(r)
		out = append(out, letter{key: "ev" + strconv.FormatInt(ev.ID, 10) + "." + r, eventID: ev.ID, at: ev.At, recipient: r,
			address: row.Person.Email, v: lv})
	}
	return out, nil
}

// noEmail is the notice, once per person and administrator, that someone
// gets no mail because HR has no address for them.
func (n *Notifier) noEmail(ctx context.Context, ev ledger.Event, who *ledger.PersonRow, sys *policy.System) ([]letter, error) {
	if sys == nil {
		return nil, nil
	}
	var out []letter
	for _, a := range sys.Administrators {
		if a == who.Person.ID {
			continue
		}
		row, err := n.Ledger.Person(ctx, a)
		if err != nil {
			return nil, err
		}
		if row == nil || strings.TrimSpace(row.Person.Email) == "" {
			continue
		}
		n.Log.Info("notify: a person has no e-mail address; the system's administrators are told", "person", who.Person.ID, "system", sys.ID)
		out = append(out, letter{key: "no-email." + who.Person.ID + "." + a, eventID: ev.ID, at: ev.At, recipient: a, address: row.Person.Email,
			v: view{Kind: "no_email", Name: name(&row.Person), Person: name(&who.Person), PersonID: who.Person.ID,
				Link: n.link("/people/" + url.PathEscape(who.Person.ID))}})
	}
	return out, nil
}

func taskText(kind string) string {
	if Has("task.kind." + kind) {
		return T("task.kind." + kind)
	}
	return T("task.kind.other", kind)
}

func (n *Notifier) link(path string) string {
	return strings.TrimRight(n.PublicURL, "/") + path
}

// unique drops a letter whose key came before (a no-email notice that
// two events of one batch made).
func unique(ls []letter) []letter {
	seen := make(map[string]bool, len(ls))
	out := ls[:0]
	for _, l := range ls {
		if !seen[l.key] {
			seen[l.key] = true
			out = append(out, l)
		}
	}
	return out
}

// digests folds the letters of anyone who gets more than Digest of them
// into one digest, keyed by its first event so a repeat makes the same.
func (n *Notifier) digests(ls []letter) []letter {
	count := map[string]int{}
	for _, l := range ls {
		count[l.recipient]++
	}
	var out []letter
	folded := map[string]int{} // recipient -> index in out
	for _, l := range ls {
		if count[l.recipient] <= n.Digest {
			out = append(out, l)
			continue
		}
		i, ok := folded[l.recipient]
		if !ok {
			folded[l.recipient] = len(out)
			out = append(out, letter{key: "digest.ev" + strconv.FormatInt(l.eventID, 10) + "." + l.recipient, eventID: l.eventID, at: l.at,
				recipient: l.recipient, address: l.address, v: view{Kind: "digest", Name: l.v.Name, Link: n.link("/")}})
			i = len(out) - 1
		}
		out[i].v.Items = append(out[i].v.Items, item{Subject: l.v.subject(), Link: l.v.Link})
	}
	return out
}

// unitText is a unit with the position there, as a mover's mail names it.
func unitText(unit, position string) string {
	switch {
	case unit == "":
		return position
	case position == "":
		return unit
	}
	return T("unit.position", position, unit)
}

// Event kinds of DESIGN.md "Notifications".
const (
	EvApprovalReminded  = tilgang.EvApprovalReminded
	EvApprovalEscalated = tilgang.EvApprovalEscalated
	EvTaskReminded      = tilgang.EvTaskReminded
	EvTaskEscalated     = tilgang.EvTaskEscalated
	EvPersonLeft        = tilgang.EvPersonLeft
	EvPersonMoved       = tilgang.EvPersonMoved
)

// permanentError is a refusal for good.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent says whether err is a refusal for good (the mail is failed,
// not deferred).
func Permanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
