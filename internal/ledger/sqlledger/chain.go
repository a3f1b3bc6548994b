package sqlledger

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

func (t *tx) appendChain() error {
	row, err := t.queryRow(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`) // the chain never forks
	if err != nil {
		return err
	}
	var head ledger.Head
	if err := row.Scan(&head.Seq, &head.Hash); err != nil {
		return classify(err, "read chain head")
	}
	var texts, rows [][]any
	seen := map[string]bool{}
	for _, e := range t.audit {
		textHash := ""
		if e.Text != "" {
			textHash = sha256hex([]byte(e.Text))
			if !seen[textHash] {
				seen[textHash] = true
				texts = append(texts, []any{textHash, e.Text})
			}
		}
		head.Seq++
		c := canonicalOf(head.Seq, head.Hash, e, textHash)
		head.Hash = sha256hex(c)
		rows = append(rows, []any{head.Seq, head.Hash, string(c), e.Person, e.System, ms(e.At), 1})
	}
	if err := t.insertRows(`INSERT INTO texts (hash, text) VALUES `, texts, ` ON CONFLICT (hash) DO NOTHING`); err != nil {
		return err
	}
	if err := t.insertRows(`INSERT INTO audit (seq, hash, canonical, person, system, at, registered) VALUES `, rows, ""); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head.Seq, head.Hash)
	return err
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// canon is the chained form of an audit entry. Field order is fixed and
// encoding/json sorts map keys, so the bytes are canonical.
type canon struct {
	Seq       int64             `json:"seq"`
	Prev      string            `json:"prev"`
	At        string            `json:"at"`
	Kind      string            `json:"kind"`
	Person    string            `json:"person,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Via       string            `json:"via,omitempty"`
	System    string            `json:"system,omitempty"`
	Role      string            `json:"role,omitempty"`
	GrantID   string            `json:"grant_id,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	OpID      int64             `json:"operation_id,omitempty"`
	From      string            `json:"from,omitempty"`
	To        string            `json:"to,omitempty"`
	Catalogue string            `json:"catalogue,omitempty"`
	FileHash  string            `json:"file_hash,omitempty"`
	TextHash  string            `json:"text_hash,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

func canonicalOf(seq int64, prev string, e ledger.AuditEntry, textHash string) []byte {
	return []byte(mustJSON(canon{
		Seq: seq, Prev: prev, At: e.At.UTC().Format(time.RFC3339Nano), Kind: e.Kind, Person: e.Person, Actor: e.Actor, Via: e.Via,
		System: e.System, Role: e.Role, GrantID: e.GrantID, RequestID: e.RequestID, OpID: e.OpID, From: e.From, To: e.To,
		Catalogue: e.Catalogue, FileHash: e.FileHash, TextHash: textHash, Details: e.Details,
	}))
}

func entryOf(c canon) ledger.AuditEntry {
	at, _ := time.Parse(time.RFC3339Nano, c.At)
	return ledger.AuditEntry{At: at, Kind: c.Kind, Person: c.Person, Actor: c.Actor, Via: c.Via, System: c.System, Role: c.Role,
		GrantID: c.GrantID, RequestID: c.RequestID, OpID: c.OpID, From: c.From, To: c.To, Catalogue: c.Catalogue, FileHash: c.FileHash, Details: c.Details}
}
