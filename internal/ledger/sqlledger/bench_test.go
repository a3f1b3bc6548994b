package sqlledger

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// intake writes what the engine writes for one accepted grant request
// that needs no approval: the message key, the request, the grant, two
// connector operations, two chain rows and two events.
func intake(b *testing.B, tx ledger.Tx, n int, now time.Time) {
	person, key := benchIDs(n)
	out, err := tx.RecordMessage(ledger.Message{Key: key, PayloadHash: key, Type: tilgang.TypeRequest, Person: person,
		Actor: "1547-10001", Seq: uint64(n + 1), At: now})
	if err != nil || out != ledger.MsgNew {
		b.Fatalf("record message: %v %v", out, err)
	}
	gid := "g-" + key[:16]
	must(b, tx.InsertRequest(ledger.Request{ID: key, Person: person, System: "gerica", Role: "bruker", Action: "grant",
		Actor: "1547-10001", Via: "portal", GrantID: gid, Outcome: "accepted", Reason: "ny i heimetenesta",
		ValidUntil: tilgang.Date{Y: 2026, M: 1, D: 31}, Seq: uint64(n + 1), At: now}))
	g := ledger.Grant{ID: gid, Person: person, System: "gerica", Role: "bruker", State: tilgang.StateProvisioning, RequestID: key,
		Requester: "1547-10001", ValidUntil: tilgang.Date{Y: 2026, M: 1, D: 31},
		Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker,OU=Groups,DC=ror,DC=test"}}, Catalogue: "cat-1",
		Created: now, Updated: now}
	must(b, tx.InsertGrant(g))
	for _, kind := range []string{ledger.KindEnsureAccount, ledger.KindGrant} {
		if _, err := tx.InsertOperation(ledger.Operation{GrantID: gid, Person: person, Connector: "ad", Kind: kind,
			Entitlement: "CN=APP-Gerica-Bruker,OU=Groups,DC=ror,DC=test", DueAt: now, NextAt: now, Seq: uint64(n + 1),
			Created: now, Updated: now}); err != nil {
			b.Fatal(err)
		}
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "request.accepted", Person: person, Actor: "1547-10001", Via: "portal",
		System: "gerica", Role: "bruker", RequestID: key, Catalogue: "cat-1", Text: "ny i heimetenesta"})
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: person, Actor: "1547-10001", Via: "portal",
		System: "gerica", Role: "bruker", GrantID: gid, RequestID: key, To: string(g.State), Catalogue: "cat-1"})
	tx.Emit(ledger.Event{Kind: tilgang.EvRequestAccepted, Person: person, At: now, Data: map[string]any{"request_id": key, "grant_id": gid}})
	tx.Emit(ledger.Event{Kind: "grant.provisioning", Person: person, At: now, Data: map[string]any{"request_id": key, "grant_id": gid}})
}

// benchIDs are the person and the idempotency key of message n.
func benchIDs(n int) (person, key string) {
	return fmt.Sprintf("1547-%06d", n), sha256hex([]byte("portal\nbench\n" + strconv.Itoa(n)))
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCommit measures intake transactions on a SQLite file
// (synchronous=FULL): one op is one message; batch is the messages per
// transaction. Preloaded, the transaction first reads the batch's people
// and keys in a few statements (ledger.Preloader), as the intake does;
// otherwise each person is read on first touch.
func BenchmarkCommit(b *testing.B) {
	now := time.Date(2025, time.August, 1, 7, 30, 0, 0, time.UTC)
	for _, batch := range []int{1, 256} {
		for _, preload := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d", batch)
			if preload {
				name += ",preloaded"
			}
			b.Run(name, func(b *testing.B) {
				s, _ := openSQLite(b)
				defer s.Close()
				ctx := b.Context()
				b.ReportAllocs()
				b.ResetTimer()
				txs := 0
				for n := 0; n < b.N; {
					tx, err := s.Begin(ctx)
					must(b, err)
					if preload {
						var persons, keys []string
						for i := n; i < n+batch && i < b.N; i++ {
							p, k := benchIDs(i)
							persons, keys = append(persons, p), append(keys, k)
						}
						must(b, ledger.Preload(tx, persons, keys))
					}
					for i := 0; i < batch && n < b.N; i++ {
						intake(b, tx, n, now)
						n++
					}
					must(b, tx.Commit())
					txs++
				}
				b.StopTimer()
				elapsed := b.Elapsed()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(txs), "ns/tx")
				rep, err := s.Verify(ctx, nil)
				must(b, err)
				if !rep.OK || rep.Rows != int64(2*b.N) {
					b.Fatalf("verify after the benchmark: %+v", rep)
				}
			})
		}
	}
}
