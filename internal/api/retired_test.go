package api

import (
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// A call signed with a principal's retired key is taken until the key's
// until and refused after; one signed by a revoked principal at once.
func TestRetiredAndRevokedKeys(t *testing.T) {
	oldKey, err := nkeys.CreateUser()
	require.NoError(t, err)
	newKey, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub := func(kp nkeys.KeyPair) string {
		p, err := kp.PublicKey()
		require.NoError(t, err)
		return p
	}
	until := time.Date(2026, 12, 11, 15, 0, 0, 0, time.UTC)
	rotated, err := principals.New([]principals.Principal{{ID: "drift", Kind: principals.KindService, Key: pub(newKey),
		Capabilities: []string{tilgang.CapOperator}, RetiredKeys: []principals.RetiredKey{{Key: pub(oldKey), Until: until}}}})
	require.NoError(t, err)
	revoked, err := principals.New([]principals.Principal{{ID: "drift", Kind: principals.KindService,
		Capabilities: []string{tilgang.CapOperator}, Revoked: until.Add(-time.Hour)}})
	require.NoError(t, err)

	tests := []struct {
		name string
		set  *principals.Set
		key  nkeys.KeyPair
		at   time.Time
		want string // "" = taken
	}{
		{"retired key within the grace", rotated, oldKey, until.Add(-time.Minute), ""},
		{"retired key at until", rotated, oldKey, until, "bad signature"},
		{"retired key after", rotated, oldKey, until.Add(24 * time.Hour), "bad signature"},
		{"new key", rotated, newKey, until.Add(24 * time.Hour), ""},
		{"revoked", revoked, oldKey, until.Add(-time.Minute), `revoked signer: the keys of actor "drift" are revoked`},
		{"revoked, new key", revoked, newKey, until.Add(-time.Minute), "revoked signer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := func() time.Time { return tt.at }
			c := &Client{Key: tt.key, Actor: "drift", Now: now}
			body, err := c.body(MethodGrants, GrantsArgs{})
			require.NoError(t, err)
			s := &Server{Principals: func() *principals.Set { return tt.set }, Now: now}
			req, at, err := decodeRequest(body)
			require.NoError(t, err)
			err = s.authenticate(MethodGrants, req, at)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tilgang.Denied, tilgang.KindOf(err))
			require.ErrorContains(t, err, tt.want)
		})
	}
}
