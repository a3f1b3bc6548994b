package api

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// A principal holding only on_behalf may call the API for persons, never as
// a service principal: an operator's or auditor's capabilities count only
// when it signs for itself (the rule principals.Set.Verify applies to
// messages).
func TestOnBehalfActsForPersonsOnly(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		actor  string
		method string
		args   any
		kind   tilgang.Kind
	}{
		{name: "reload as the operator", actor: drift, method: MethodPolicyReload, kind: tilgang.Denied},
		{name: "the audit as the auditor", actor: revisor, method: MethodAudit, args: AuditArgs{}, kind: tilgang.Denied},
		{name: "verify as the auditor", actor: revisor, method: MethodAuditVerify, kind: tilgang.Denied},
		{name: "grants as the hr feed", actor: feed, method: MethodGrants, args: GrantsArgs{}, kind: tilgang.Denied},
		{name: "a person's grants", actor: kjell, method: MethodGrants, args: GrantsArgs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out json.RawMessage
			err := f.client(tc.actor, portal).Call(ctx, tc.method, tc.args, &out)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind != "" {
				require.Contains(t, err.Error(), "may not act on behalf of service principal")
			}
		})
	}
	require.Empty(t, f.reloads)
}
