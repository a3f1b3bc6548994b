package engine

import (
	"fmt"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// Credential hands out a new account's initial password (DESIGN.md
// "Initial credentials"): sealed with the curve key of whoever hands it
// out (the person's manager, or the system's administrators, as the role's
// credentials_to says; SealTo overrides that, as `tilgang dev` does with
// its dev principal) and published as credential.issued. When the
// recipient has no curve key, the copy is sealed to an administrator who
// has one, and a task.manual asks the administrators to hand it out in
// person. The password is never stored or logged; the event carries only
// the sealed text.
func (e *Engine) Credential(tx ledger.Tx, op ledger.Operation, cred *connectors.Credential) error {
	now := e.Now().UTC()
	ps := e.Principals()
	var g *ledger.Grant
	var sys *policy.System
	to := policy.CredentialsToManager
	if op.GrantID != "" {
		var err error
		if g, err = tx.Grant(op.GrantID); err != nil {
			return err
		}
		if g != nil {
			if s, r, ok := e.Catalogue().Role(g.System, g.Role); ok {
				sys = s
				if r.CredentialsTo != "" {
					to = r.CredentialsTo
				}
			}
		}
	}
	var wanted []string
	switch {
	case e.SealTo != "":
		wanted = []string{e.SealTo}
	case to == policy.CredentialsToManager:
		p, err := tx.Person(op.Person)
		if err != nil {
			return err
		}
		if p != nil && managerAt(p, e.Now()) != "" {
			wanted = []string{managerAt(p, e.Now())}
		}
	}
	var admins []string
	if sys != nil {
		admins = sys.Administrators
	}
	if to == policy.CredentialsToAdministrators {
		wanted = append(wanted, admins...)
	}
	recipient, key := firstWithCurveKey(ps, wanted)
	inPerson := recipient == ""
	if inPerson {
		recipient, key = firstWithCurveKey(ps, admins)
	}
	data := map[string]any{"operation_id": fmt.Sprint(op.ID), "connector": op.Connector, "username": cred.Username}
	if g != nil {
		data["grant_id"], data["request_id"], data["system"], data["role"] = g.ID, g.RequestID, g.System, g.Role
	}
	if recipient != "" {
		sealed, sender, err := principals.Seal(cred.Secret, key)
		if err != nil {
			return err
		}
		data["recipient"], data["sealed"], data["sender"] = recipient, sealed, sender
		tx.Emit(ledger.Event{Kind: tilgang.EvCredentialIssued, Person: op.Person, At: now, Data: data})
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "credential.issued", Person: op.Person, Actor: Worker, GrantID: op.GrantID, OpID: op.ID,
		Details: map[string]string{"connector": op.Connector, "username": cred.Username, "sealed_to": recipient, "in_person": fmt.Sprint(inPerson)}})
	if inPerson {
		task := map[string]any{"operation_id": fmt.Sprint(op.ID), "kind": "hand_out_credential", "connector": op.Connector,
			"person": op.Person, "username": cred.Username, "administrators": admins,
			"reason": "nobody who should hand out the initial password has a curve key: hand it out in person (reset it if no sealed copy reached you)"}
		if recipient != "" {
			task["sealed_to"] = recipient
		}
		tx.Emit(ledger.Event{Kind: tilgang.EvTaskManual, Person: op.Person, At: now, Data: task})
	}
	return nil
}

func firstWithCurveKey(ps *principals.Set, ids []string) (id, key string) {
	for _, id := range ids {
		if p, ok := ps.Get(id); ok && p.CurveKey != "" {
			return id, p.CurveKey
		}
	}
	return "", ""
}
