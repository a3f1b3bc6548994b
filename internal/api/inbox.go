package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Methods the portal reads with (DESIGN.md "The portal"); any client may
// call them, each answered for its actor as the package doc says.
const (
	// MethodInbox is what waits for the actor to act on.
	MethodInbox = "inbox"
	// MethodPerson is one person's name and whether they have left.
	MethodPerson = "person"
	// MethodPeople lists the people the ledger holds records of.
	MethodPeople = "people"
)

func init() {
	handlers[MethodInbox] = (*Server).inbox
	handlers[MethodPerson] = (*Server).person
	handlers[MethodPeople] = (*Server).people
}

// Inbox is what waits for the actor (the portal's "what waits for me"):
//
//   - Approvals: grants in pending_approval whose current stage the actor
//     may decide: the stage names them, or it is a systemansvarlig stage of
//     a system they administer; never their own grant, one they requested,
//     or one they approved a stage of (the engine has the last word: a
//     principal whose request was attached later is refused there).
//   - Training: grants in pending_training of systems the actor
//     administers, other than their own.
//   - Tasks: manual tasks whose administrators include the actor.
//
// Each list is oldest first. Operators and auditors see what waits for
// them as persons, not everything they may read.
type Inbox struct {
	Approvals []Approval `json:"approvals"`
	Training  []Grant    `json:"training"`
	Tasks     []Task     `json:"tasks"`
	// Names are the names (given and family) of the people the lists name
	// (persons and requesters) who have an HR record, by id.
	Names map[string]string `json:"names"`
}

// Approval is a grant waiting for the actor's decision, with the reason
// its requester gave (free text; "" once erased).
type Approval struct {
	Grant
	Reason string `json:"reason"`
}

func (s *Server) inbox(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	out := Inbox{Approvals: []Approval{}, Training: []Grant{}, Tasks: []Task{}}
	// The ledger lists what waits for the actor from its indexes (the
	// stages that name them, the grants of the systems they administer),
	// oldest first; the rules below are the same as over every open grant.
	systems := v.administered()
	pending, err := s.Ledger.PendingApprovals(ctx, v.actor, systems)
	if err != nil {
		return nil, err
	}
	var requests []string
	for i := range pending {
		g := &pending[i]
		mine := g.StagePrincipal == v.actor || (g.StagePrincipal == "" && v.administers(g.System))
		if g.Person != v.actor && mine && g.Requester != v.actor && !slices.Contains(g.Approvers, v.actor) {
			out.Approvals = append(out.Approvals, Approval{Grant: grantOf(g)})
			requests = append(requests, g.RequestID)
		}
	}
	if len(requests) > 0 {
		rs, err := s.Ledger.RequestsByID(ctx, requests)
		if err != nil {
			return nil, err
		}
		for i := range out.Approvals {
			if r := rs[out.Approvals[i].RequestID]; r != nil {
				out.Approvals[i].Reason = r.Reason
			}
		}
	}
	training, tasks, err := s.waitingIn(ctx, v, systems, func(g *ledger.Grant) bool {
		return g.Person != v.actor && v.administers(g.System)
	})
	if err != nil {
		return nil, err
	}
	out.Training, out.Tasks = append(out.Training, training...), append(out.Tasks, tasks...)
	grants := make([]Grant, 0, len(out.Approvals))
	requesters := make([]string, 0, len(out.Approvals))
	for _, a := range out.Approvals {
		grants, requesters = append(grants, a.Grant), append(requesters, a.Requester)
	}
	if out.Names, err = s.namesOf(ctx, [][]Grant{grants, out.Training}, out.Tasks, requesters...); err != nil {
		return nil, err
	}
	return out, nil
}

// PersonArgs are the args of person.
type PersonArgs struct {
	Person string `json:"person"`
}

// PersonInfo is what the portal shows of a person and needs to know on
// each request: the name, and whether they have left.
type PersonInfo struct {
	ID         string `json:"id"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Manager    string `json:"manager,omitempty"`
	Left       bool   `json:"left"`
}

// Name is given and family name, or the id when the record has none.
func (p PersonInfo) Name() string {
	if n := strings.TrimSpace(p.GivenName + " " + p.FamilyName); n != "" {
		return n
	}
	return p.ID
}

// person answers one person's record, visible as any row without a system
// (the person, their manager, operators and auditors). A person without a
// record is not found: to the portal, someone it cannot sign in.
func (s *Server) person(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a PersonArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !tilgang.ValidToken(a.Person) {
		return nil, invalidf("person %q is not a person id", short(a.Person))
	}
	if ok, err := v.sees(a.Person, ""); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, deniedf("%s may not see person %s", v.actor, a.Person)
	}
	p, err := s.Ledger.Person(ctx, a.Person)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "api: no person %s", a.Person)
	}
	return personInfo(p, s.now()), nil
}

func personInfo(p *ledger.PersonRow, now time.Time) PersonInfo {
	return PersonInfo{ID: p.Person.ID, GivenName: p.Person.GivenName, FamilyName: p.Person.FamilyName,
		Manager: managerAt(p, now), Left: p.Left}
}

// managerAt is the person's manager in the record in effect at now
// (tilgang.Person.At); the zero time stands for now.
func managerAt(p *ledger.PersonRow, now time.Time) string {
	if now.IsZero() {
		now = time.Now()
	}
	v := p.Person.At(now)
	return v.Manager()
}

// MaxPeople bounds the people one people call answers.
const MaxPeople = 1000

// people lists, for operators and auditors, the people whose HR record
// the ledger holds, by id, at most MaxPeople: the development sign-in of
// `tilgang dev` lists them.
func (s *Server) people(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !v.all {
		return nil, deniedf("%s may not list people: operators and auditors only", v.actor)
	}
	ids, err := s.Ledger.PersonIDs(ctx, "", MaxPeople)
	if err != nil {
		return nil, err
	}
	rows, _, err := s.Ledger.People(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]PersonInfo, 0, len(ids))
	for _, id := range ids {
		if p := rows[id]; p != nil {
			out = append(out, personInfo(p, s.now()))
		}
	}
	return out, nil
}
