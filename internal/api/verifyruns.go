package api

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// MethodLastVerify answers the last recorded run of audit verify, for
// operators and auditors (the portal's audit page shows it):
//
//	audit.verify.last {} -> {"run": {at, actor, report, error} | null}
//
// Every audit.verify call records its result in the ledger (VerifyRuns),
// whatever it found; a failure to record is logged, not the caller's.
const MethodLastVerify = "audit.verify.last"

func init() {
	handlers[MethodLastVerify] = (*Server).lastVerify
}

// LastVerify is the answer of audit.verify.last; Run is nil before the
// first run.
type LastVerify struct {
	Run *ledger.VerifyRun `json:"run"`
}

func (s *Server) recordVerify(ctx context.Context, actor string, rep ledger.VerifyReport, err error) {
	vr, ok := s.Ledger.(ledger.VerifyRuns)
	if !ok {
		return
	}
	run := ledger.VerifyRun{At: s.now().UTC(), Actor: actor, Report: rep}
	if err != nil {
		run.Error = err.Error()
	}
	if err := vr.RecordVerify(context.WithoutCancel(ctx), run); err != nil {
		s.log().Warn("audit verify: its result could not be recorded", "err", err)
	}
}

func (s *Server) lastVerify(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !v.all {
		return nil, deniedf("%s may not read the audit verify runs: operators and auditors only", v.actor)
	}
	vr, ok := s.Ledger.(ledger.VerifyRuns)
	if !ok {
		return LastVerify{}, nil
	}
	run, err := vr.LastVerify(ctx)
	return LastVerify{Run: run}, err
}

// AuditCSVHeader is the header of the audit as CSV (`tilgang audit
// --format csv` and the portal's export); AuditCSVRow is one row in its
// columns, not yet neutralised for spreadsheets (csvsafe.Row does that).
var AuditCSVHeader = []string{"seq", "at", "kind", "person", "actor", "via", "system", "role", "grant_id", "request_id", "operation_id", "from", "to", "text", "catalogue"}

// AuditCSVRow is r in the columns of AuditCSVHeader.
func AuditCSVRow(r AuditRow) []string {
	return []string{strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Kind, r.Person,
		r.Actor, r.Via, r.System, r.Role, r.GrantID, r.RequestID, r.OperationID, r.From, r.To, r.Text, r.Catalogue}
}
