package ledger

import "context"

// TraceContext is the W3C trace context a message's intake span had, kept
// by the message's stream sequence so that the operations the message
// leads to (Operation.Seq) are traced as its children on any replica,
// however much later they run.
type TraceContext struct {
	TraceParent string
	TraceState  string
}

// TraceWriter keeps trace contexts; the intake writes one, in the
// message's transaction, only when tracing is on.
type TraceWriter interface {
	// PutTrace stores the trace context of the message at stream sequence
	// seq, replacing one stored before (a redelivered message's).
	PutTrace(seq uint64, tc TraceContext) error
}

// TraceReader reads them back.
type TraceReader interface {
	// Traces are the trace contexts of the sequences given that have one.
	Traces(ctx context.Context, seqs []uint64) (map[uint64]TraceContext, error)
}
