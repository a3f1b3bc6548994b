package hrsource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// EnvelopePrefix starts the CloudEvents source of the HR events a sync
// sends: "hr-sync/{name}" for the source named name. The worker keeps the
// snapshot of name from the events it accepts with such a source.
const EnvelopePrefix = "hr-sync/"

// EnvelopeSource is the CloudEvents source of the events of source name.
func EnvelopeSource(name string) string { return EnvelopePrefix + name }

// EventID is the CloudEvents id of the event that brings person to version
// from source name: the same event sent again has the same idempotency key
// (signer, source, id), so the ledger records it once.
func EventID(name, person string, version int64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", name, person, version))
	return hex.EncodeToString(h[:16])
}
