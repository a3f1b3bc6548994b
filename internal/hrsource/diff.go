package hrsource

import (
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/ror-ikt/tilgang"
)

// Kind is the kind of an HR event.
type Kind string

const (
	Joiner Kind = "joiner" // no.tilgang.hr.joiner.v1
	Mover  Kind = "mover"  // no.tilgang.hr.mover.v1
	Leaver Kind = "leaver" // no.tilgang.hr.leaver.v1
)

// EventType is the CloudEvents type of the kind.
func (k Kind) EventType() string { return "no.tilgang.hr." + string(k) + ".v1" }

// Stored is the last record kept of a person from this source, at its
// version.
type Stored struct {
	Person  tilgang.Person
	Version int64
}

// Event is one HR event to send: the whole record at Version.
type Event struct {
	Kind    Kind
	Person  tilgang.Person
	Version int64
}

// Data is the event's CloudEvents data: {"version": n, "person": {...}}
// (DESIGN.md "Messages in").
func (e Event) Data() HRData { return HRData{Version: e.Version, Person: e.Person} }

// HRData is the data of an HR event.
type HRData struct {
	Version int64          `json:"version"`
	Person  tilgang.Person `json:"person"`
}

// FailSafe bounds what one snapshot may change, and gives Diff the day and
// the versions.
type FailSafe struct {
	// MaxLeaveShare is the largest share (0..1) of the previous snapshot's
	// people that may leave; 0 is the default 0.10.
	MaxLeaveShare float64
	// MaxChangeShare is the largest share (0..1) of the previous snapshot's
	// people that may move or leave (joiners do not count); 0 is the
	// default 0.25.
	MaxChangeShare float64
	// Today is the Oslo date of the sync; a leaver's open employments end
	// the day before. Zero is today.
	Today tilgang.Date
	// Next, when set, gives each event's version (for example the ledger's
	// sequence); a value not above the stored version is replaced by the
	// stored version + 1. Nil: the stored version + 1, and 1 for a joiner.
	Next func() int64
}

// Default fail-safe shares.
const (
	DefaultMaxLeaveShare  = 0.10
	DefaultMaxChangeShare = 0.25
)

// Plan is what a sync would do. When Held is true nothing may be sent
// until an operator allows the changes; Events still lists what would be.
type Plan struct {
	Events    []Event     // joiners, movers and leavers, by person id
	Unchanged []string    // person ids
	Rejected  []Rejection // from the snapshot; these people keep their state
	Warnings  []Warning   // from the snapshot
	Held      bool
	Reasons   []string // why it is held, in plain words
	// Base is the number of people of the previous snapshot the shares are
	// taken of: the stored people who had not left by Today.
	Base int
}

// Count is the number of events of kind k.
func (p Plan) Count(k Kind) int {
	n := 0
	for _, e := range p.Events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// Summary is the `hr sync --output json` document of DESIGN.md.
type Summary struct {
	Source    string   `json:"source"`
	People    int      `json:"people"`
	Joiners   int      `json:"joiners"`
	Movers    int      `json:"movers"`
	Leavers   int      `json:"leavers"`
	Unchanged int      `json:"unchanged"`
	Rejected  int      `json:"rejected"`
	Held      bool     `json:"held"`
	Reasons   []string `json:"reasons"`
}

// Summary sums the plan up for the source that had people people.
func (p Plan) Summary(source string, people int) Summary {
	r := p.Reasons
	if r == nil {
		r = []string{}
	}
	return Summary{Source: source, People: people, Joiners: p.Count(Joiner), Movers: p.Count(Mover),
		Leavers: p.Count(Leaver), Unchanged: len(p.Unchanged), Rejected: len(p.Rejected), Held: p.Held, Reasons: r}
}

// Diff plans the events that bring prev (the last record kept per person
// id from this source) to snap. Each person of prev or snap counts in
// exactly one of Events (joiner, mover, leaver), Unchanged and Rejected:
//
//   - joiner: in snap, not in prev;
//   - mover: in both and the record differs in anything (names, e-mail,
//     any employment);
//   - leaver: in prev, missing from a complete snap: the stored record with
//     every employment that is open or ends after Today-1 ended on Today-1
//     (an employment not yet started is cut to that one day), so that
//     tilgang.Person.LeaveAt is 00:00 Oslo today and the engine leaves the
//     person at once; a person whose stored record already ended by then is
//     unchanged, and nobody leaves on an incomplete snapshot or one holding
//     a rejected record whose id could not be read;
//   - rejected: the snapshot rejected the record; it keeps its state.
//
// The fail-safe holds the plan when leavers exceed MaxLeaveShare or movers
// plus leavers exceed MaxChangeShare of Base, or when the snapshot holds no
// people or no employments at all. A source's first snapshot (prev empty)
// is exempt.
func Diff(prev map[string]Stored, snap Snapshot, opts FailSafe) Plan {
	today := opts.Today
	if today.IsZero() {
		today = tilgang.DateOf(time.Now())
	}
	plan := Plan{Rejected: snap.Rejected, Warnings: snap.Warnings}
	version := func(id string) int64 {
		old := prev[id].Version
		if opts.Next != nil {
			if v := opts.Next(); v > old {
				return v
			}
		}
		return old + 1
	}
	rejected := map[string]bool{}
	unidentified := 0
	for _, r := range snap.Rejected {
		if r.PersonID != "" {
			rejected[r.PersonID] = true
		} else {
			unidentified++
		}
	}
	// A record whose id could not be read may be anyone's: nobody missing
	// leaves on such a snapshot, as on an incomplete one.
	complete := snap.Complete && unidentified == 0
	if unidentified > 0 && snap.Complete {
		plan.Warnings = append(append([]Warning{}, plan.Warnings...), Warning{Message: fmt.Sprintf(
			"%d record whose id could not be read (it may be anyone's): nobody missing from this snapshot leaves", unidentified)})
	}
	seen := map[string]bool{}
	employments := 0
	for _, p := range snap.People {
		seen[p.ID] = true
		employments += len(p.Employments)
		old, ok := prev[p.ID]
		switch {
		case !ok:
			plan.Events = append(plan.Events, Event{Kind: Joiner, Person: p, Version: version(p.ID)})
		case !same(old.Person, p):
			plan.Events = append(plan.Events, Event{Kind: Mover, Person: p, Version: version(p.ID)})
		default:
			plan.Unchanged = append(plan.Unchanged, p.ID)
		}
	}
	ids := make([]string, 0, len(prev))
	for id := range prev {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		old := prev[id]
		if active(old.Person, today) {
			plan.Base++
		}
		if seen[id] || rejected[id] {
			continue
		}
		if !complete {
			plan.Unchanged = append(plan.Unchanged, id)
			continue
		}
		left := leave(old.Person, today)
		if same(old.Person, left) {
			plan.Unchanged = append(plan.Unchanged, id)
			continue
		}
		plan.Events = append(plan.Events, Event{Kind: Leaver, Person: left, Version: version(id)})
	}
	sort.SliceStable(plan.Events, func(i, j int) bool { return plan.Events[i].Person.ID < plan.Events[j].Person.ID })
	sort.Strings(plan.Unchanged)

	if len(prev) == 0 {
		return plan
	}
	leaveMax, changeMax := opts.MaxLeaveShare, opts.MaxChangeShare
	if leaveMax == 0 {
		leaveMax = DefaultMaxLeaveShare
	}
	if changeMax == 0 {
		changeMax = DefaultMaxChangeShare
	}
	base := max(plan.Base, 1)
	leavers, changes := plan.Count(Leaver), plan.Count(Leaver)+plan.Count(Mover)
	if share := float64(leavers) / float64(base); share > leaveMax {
		plan.Reasons = append(plan.Reasons, fmt.Sprintf(
			"%d of %d people would leave (%s); the limit is %s", leavers, plan.Base, pct(share), pct(leaveMax)))
	}
	if share := float64(changes) / float64(base); share > changeMax {
		plan.Reasons = append(plan.Reasons, fmt.Sprintf(
			"%d of %d people would move or leave (%s); the limit is %s", changes, plan.Base, pct(share), pct(changeMax)))
	}
	if len(snap.People) == 0 {
		plan.Reasons = append(plan.Reasons, "the snapshot holds no people at all")
	} else if employments == 0 {
		plan.Reasons = append(plan.Reasons, "the snapshot holds no employments at all")
	}
	plan.Held = len(plan.Reasons) > 0
	return plan
}

func pct(f float64) string { return fmt.Sprintf("%.1f %%", f*100) }

// same compares two records, employments in id order.
func same(a, b tilgang.Person) bool {
	return reflect.DeepEqual(canonical(a), canonical(b))
}

func canonical(p tilgang.Person) tilgang.Person {
	es := append([]tilgang.Employment{}, p.Employments...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	p.Employments = es
	return p
}

// active reports whether p had not left by the start of today.
func active(p tilgang.Person, today tilgang.Date) bool {
	at, ok := p.LeaveAt()
	return !ok || at.After(today.Start())
}

// leave is p with every employment ending on today-1 at the latest.
func leave(p tilgang.Person, today tilgang.Date) tilgang.Person {
	last := minusDays(today, 1)
	p = canonical(p)
	for i := range p.Employments {
		e := &p.Employments[i]
		if e.End.IsZero() || last.Before(e.End) {
			e.End = last
		}
		if e.End.Before(e.Start) {
			e.Start = e.End
		}
	}
	return p
}
