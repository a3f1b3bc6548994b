// Package ledgerseed writes a synthetic municipality into a ledger, for
// the tests and benchmarks of the portal's reads: people with managers,
// systems with administrators, and grants in every state the portal's
// pages show (waiting for approval at a manager, systemansvarlig or named
// stage, waiting for training, provisioning with a manual task waiting,
// active, revoked), each with the request that opened it.
//
// It writes through the ledger's own transactions (ledger.Tx: PutPerson,
// InsertRequest, InsertGrant, InsertOperation), a few hundred people to a
// transaction, and chains what the chain must hold for Verify to pass: a
// grant.state entry for each grant (with the requester's reason as its
// free text), an hr.record entry for each person and an
// operations.planned entry for each operation. Nothing goes through the
// engine, so what is written is not what the policy would decide; it is
// only a valid ledger of that size and shape.
package ledgerseed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Options size the municipality.
type Options struct {
	People   int // people, each with an HR record
	Grants   int // grants in all: at most People*(Systems-1)
	Pending  int // of them waiting for approval
	Training int // of them waiting for training to be confirmed
	Tasks    int // of them provisioning, with a manual task waiting
	Systems  int // default 20; the first, gerica, holds about one grant in ten
	Now      time.Time
	// Batch is how many people one transaction writes (default 500).
	Batch int
}

// Roles are the roles of every system.
var Roles = []string{"bruker", "admin", "les"}

// World is what Seed wrote, for a benchmark or test to pick its viewers.
type World struct {
	// Files is the catalogue: a policy file a system, for policy.LoadFS
	// with the connector "manual".
	Files   map[string][]byte
	People  []string            // person ids, in order
	Systems []string            // system ids; Systems[0] is gerica
	Admins  map[string][]string // system -> its administrators
	Manager map[string]string   // person -> manager ("" for the top)
	// Grants counts the grants written by state.
	Grants map[tilgang.GrantState]int
}

// Person is the id of the i-th person.
func Person(i int) string { return fmt.Sprintf("1547-%06d", 100000+i) }

// RequestID is the id of the request that opened the grant.
func RequestID(grantID string) string {
	h := sha256.Sum256([]byte("ledgerseed/" + grantID))
	return hex.EncodeToString(h[:])
}

// Seed writes the municipality into l, which should be empty.
func Seed(ctx context.Context, l ledger.Ledger, o Options) (*World, error) {
	if o.Systems == 0 {
		o.Systems = 20
	}
	if o.Batch == 0 {
		o.Batch = 500
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Millisecond)
	slots := o.Systems - 1
	switch {
	case o.Systems < 5 || o.People < 40:
		return nil, fmt.Errorf("ledgerseed: at least 5 systems and 40 people")
	case o.Grants > o.People*slots:
		return nil, fmt.Errorf("ledgerseed: %d grants is more than %d people can hold in %d systems (%d each)", o.Grants, o.People, o.Systems, slots)
	case o.Pending+o.Training+o.Tasks > o.Grants/2:
		return nil, fmt.Errorf("ledgerseed: pending, training and tasks are more than half the grants")
	}
	w := &World{Files: map[string][]byte{}, Admins: map[string][]string{}, Manager: map[string]string{},
		Grants: map[tilgang.GrantState]int{}}
	for i := range o.People {
		id := Person(i)
		w.People = append(w.People, id)
		switch {
		case i == 0:
			w.Manager[id] = ""
		case i%20 == 0:
			w.Manager[id] = Person(0)
		default:
			w.Manager[id] = Person(i / 20 * 20)
		}
	}
	for s := range o.Systems {
		id := fmt.Sprintf("sys%02d", s)
		if s == 0 {
			id = "gerica"
		}
		w.Systems = append(w.Systems, id)
		// Administrators are staff, not managers: persons 10s+1 and 10s+3.
		w.Admins[id] = []string{Person((10*s + 1) % o.People), Person((10*s + 3) % o.People)}
		w.Files[id+".yaml"] = []byte(policyFile(id, w.Admins[id]))
	}

	// Grant k is person k%People's slot k/People: slot 0 of an even person
	// is gerica, the others spread over the rest, one system a slot.
	kind := func(k int) tilgang.GrantState {
		step := func(n int) int { return max(o.Grants/max(n, 1), 1) }
		switch {
		case o.Pending > 0 && k%step(o.Pending) == 0 && k/step(o.Pending) < o.Pending:
			return tilgang.StatePendingApproval
		case o.Training > 0 && k%step(o.Training) == 1 && k/step(o.Training) < o.Training:
			return tilgang.StatePendingTraining
		case o.Tasks > 0 && k%step(o.Tasks) == 2 && k/step(o.Tasks) < o.Tasks:
			return tilgang.StateProvisioning
		case k%10 == 7:
			return tilgang.StateRevoked
		}
		return tilgang.StateActive
	}
	system := func(p, slot int) string {
		if slot == 0 && p%2 == 0 {
			return w.Systems[0]
		}
		return w.Systems[1+(p*7+slot)%(o.Systems-1)]
	}

	pending := 0
	for start := 0; start < o.People; start += o.Batch {
		end := min(start+o.Batch, o.People)
		tx, err := l.Begin(ctx)
		if err != nil {
			return nil, err
		}
		err = func() error {
			if err := ledger.Preload(tx, w.People[start:end], nil); err != nil {
				return err
			}
			for p := start; p < end; p++ {
				id := w.People[p]
				at := o.Now.Add(-time.Duration(o.People-p) * time.Second)
				rec := tilgang.Person{ID: id, GivenName: fmt.Sprintf("Fornavn%d", p), FamilyName: fmt.Sprintf("Etternavn%d", p), Municipality: "1547",
					Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: fmt.Sprintf("enhet%d", p/20),
						Position: "stilling", Manager: w.Manager[id], Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}}
				if err := tx.PutPerson(ledger.PersonRow{Person: rec, Version: 1, Updated: at}); err != nil {
					return err
				}
				tx.Audit(ledger.AuditEntry{At: at, Kind: "hr.record", Person: id, Actor: "hr", Details: map[string]string{"version": "1"}})
				for slot := 0; slot < slots; slot++ {
					k := slot*o.People + p
					if k >= o.Grants {
						break
					}
					sys, role := system(p, slot), Roles[(p+slot)%len(Roles)]
					mgr := w.Manager[id]
					if mgr == "" {
						mgr = Person(1) // the top has no manager: someone stands in
					}
					above := w.Manager[mgr]
					if above == "" {
						above = Person(1)
					}
					g := ledger.Grant{ID: fmt.Sprintf("g%06d", k), Person: id, System: sys, Role: role, State: kind(k),
						Requester: mgr, Approvers: []string{},
						Entitlements: map[string][]string{"manual": {strings.ToUpper(sys + "-" + role)}},
						Catalogue:    "seed", Created: at.Add(time.Duration(slot) * time.Millisecond)}
					g.RequestID = RequestID(g.ID)
					g.Updated = g.Created.Add(time.Duration(k%997) * time.Millisecond)
					switch g.State {
					case tilgang.StatePendingApproval:
						// Four in ten at the manager stage, five at the
						// systemansvarlig stage, one at the manager stage
						// named to the manager's manager.
						// Asked for by the person (so their manager may
						// decide), or by the manager (then the manager's
						// manager decides the manager stage).
						switch pending % 10 {
						case 0, 1, 2, 3:
							g.Requester, g.StagePrincipal = id, mgr
						case 9:
							g.StagePrincipal = above
						default:
							g.Requester, g.Stage, g.Approvers = id, 1, []string{mgr}
						}
						pending++
					case tilgang.StatePendingTraining, tilgang.StateProvisioning, tilgang.StateActive, tilgang.StateRevoked:
						g.Stage, g.Approvers = 2, []string{mgr, w.Admins[sys][0]}
					}
					if g.State == tilgang.StateRevoked {
						g.RevokeCause = "revoke"
					}
					w.Grants[g.State]++
					reason := fmt.Sprintf("Trenger %s i %s for arbeidet i enhet%d", role, sys, p/20)
					if err := tx.InsertRequest(ledger.Request{ID: g.RequestID, Person: id, System: sys, Role: role, Action: "grant",
						Actor: g.Requester, GrantID: g.ID, Outcome: "accepted", Reason: reason, Seq: uint64(k + 1), At: g.Created}); err != nil {
						return err
					}
					if err := tx.InsertGrant(g); err != nil {
						return err
					}
					tx.Audit(ledger.AuditEntry{At: g.Updated, Kind: "grant.state", Person: id, Actor: g.Requester, System: sys, Role: role,
						GrantID: g.ID, RequestID: g.RequestID, To: string(g.State), Catalogue: g.Catalogue, Text: reason,
						Details: ledger.GrantDetails(g, nil)})
					if g.State == tilgang.StateProvisioning {
						op := ledger.Operation{GrantID: g.ID, Person: id, Connector: "manual", Kind: ledger.KindGrant,
							Entitlement: g.Entitlements["manual"][0], State: ledger.OpWaiting, DueAt: g.Updated, NextAt: g.Updated,
							Seq: uint64(k + 1), Created: g.Updated, Updated: g.Updated}
						if op.ID, err = tx.InsertOperation(op); err != nil {
							return err
						}
						tx.Audit(ledger.Planned(g.Updated, "worker", op))
					}
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("ledgerseed: people %d..%d: %w", start, end-1, err)
		}
	}
	return w, nil
}

// policyFile is a system's policy: its roles go to the manager, then the
// systemansvarlig; admin needs training.
func policyFile(id string, admins []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "system: %s\nname: %s\nowner: IT\nadministrators: [%s]\nconnectors: [manual]\nroles:\n",
		id, strings.ToUpper(id[:1])+id[1:], strings.Join(admins, ", "))
	for _, r := range Roles {
		fmt.Fprintf(&b, "  - id: %s\n    entitlements: {manual: [%s]}\n    requestable_by: [manager]\n    approval: [manager, systemansvarlig]\n",
			r, strings.ToUpper(id+"-"+r))
		if r == "admin" {
			b.WriteString("    requires_training: true\n")
		}
	}
	return b.String()
}
