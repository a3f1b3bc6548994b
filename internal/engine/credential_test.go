package engine_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// An initial password is sealed to the person's manager (credentials_to:
// manager) and only the manager's curve key opens it; when the manager has
// no curve key it is sealed to an administrator who has one, and a manual
// task asks for it to be handed out in person.
func TestCredentialSealedToWhoHandsItOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		managerHasKey bool
		wantRecipient string
		wantTask      bool
	}{
		{"manager with a curve key", true, "1547-2", false},
		{"manager without one: an administrator, in person", false, "1547-20002", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			curve := map[string]nkeys.KeyPair{}
			var ps []principals.Principal
			for _, id := range []string{"1547-2", "1547-20002"} {
				if id == "1547-2" && !tc.managerHasKey {
					continue
				}
				sign, err := nkeys.CreateUser()
				require.NoError(t, err)
				spub, _ := sign.PublicKey()
				kp, err := nkeys.CreateCurveKeys()
				require.NoError(t, err)
				cpub, _ := kp.PublicKey()
				curve[id] = kp
				ps = append(ps, principals.Principal{ID: id, Kind: principals.KindPerson, Key: spub, CurveKey: cpub})
			}
			set, err := principals.New(ps)
			require.NoError(t, err)
			cat, err := policy.Load(testenv.WriteCatalogue(t, testenv.Catalogue), []string{"manual", "noop"})
			require.NoError(t, err)
			store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "l.db"))
			require.NoError(t, err)
			defer store.Close()
			eng := engine.New(cat, set, testConnectors, func() time.Time { return time.Date(2026, 1, 5, 9, 0, 0, 0, tilgang.Oslo) },
				slog.New(slog.NewTextHandler(io.Discard, nil)))

			tx, err := store.Begin(ctx)
			require.NoError(t, err)
			require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: testenv.People()[0], Version: 1}))
			g := ledger.Grant{ID: "g-1", Person: "1547-1", System: "kasse", Role: "bruker", State: tilgang.StateProvisioning, RequestID: "r"}
			require.NoError(t, tx.InsertGrant(g))
			tx.Audit(ledger.AuditEntry{Kind: "grant.state", GrantID: g.ID, Person: g.Person, To: string(g.State)})
			op := ledger.Operation{ID: 7, GrantID: "g-1", Person: "1547-1", Connector: "noop", Kind: ledger.KindEnsureAccount}
			require.NoError(t, eng.Credential(tx, op, &connectors.Credential{Username: "aasove", Secret: []byte("Hemmelig-1234")}))
			require.NoError(t, tx.Commit())

			evs, err := store.PendingEvents(ctx, 10)
			require.NoError(t, err)
			var issued, task *ledger.Event
			for i := range evs {
				switch evs[i].Kind {
				case tilgang.EvCredentialIssued:
					issued = &evs[i]
				case tilgang.EvTaskManual:
					task = &evs[i]
				}
			}
			require.NotNil(t, issued)
			require.Equal(t, tc.wantRecipient, issued.Data["recipient"])
			require.NotContains(t, issued.Data["sealed"], "Hemmelig", "never in clear")
			plain, err := principals.Open(issued.Data["sealed"].(string), issued.Data["sender"].(string), curve[tc.wantRecipient])
			require.NoError(t, err)
			require.Equal(t, "Hemmelig-1234", string(plain))
			for id, kp := range curve {
				if id != tc.wantRecipient {
					_, err := principals.Open(issued.Data["sealed"].(string), issued.Data["sender"].(string), kp)
					require.Error(t, err, "%s cannot open it", id)
				}
			}
			require.Equal(t, tc.wantTask, task != nil)
			rows, err := store.Audit(ctx, ledger.AuditFilter{})
			require.NoError(t, err)
			for _, r := range rows {
				require.NotContains(t, r.Canonical, "Hemmelig", "the password is not in the audit")
			}
		})
	}
}
