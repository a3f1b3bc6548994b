package principals

import (
	"encoding/base64"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	recipient, err := nkeys.CreateCurveKeys()
	require.NoError(t, err)
	other, err := nkeys.CreateCurveKeys()
	require.NoError(t, err)
	rpub := pubOf(t, recipient)

	sealed, sender, err := Seal([]byte("Sommer2025!"), rpub)
	require.NoError(t, err)
	require.True(t, nkeys.IsValidPublicCurveKey(sender))
	require.NotContains(t, sealed, "Sommer2025")

	sealed2, sender2, err := Seal([]byte("Sommer2025!"), rpub)
	require.NoError(t, err)
	require.NotEqual(t, sender, sender2, "a fresh sender key each time")
	require.NotEqual(t, sealed, sealed2)

	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	tests := []struct {
		name   string
		sealed string
		sender string
		key    nkeys.KeyPair
		kind   tilgang.Kind // "" = opens
		want   string
	}{
		{name: "round trip", sealed: sealed, sender: sender, key: recipient},
		{name: "second round trip", sealed: sealed2, sender: sender2, key: recipient},
		{name: "wrong recipient", sealed: sealed, sender: sender, key: other, kind: tilgang.Denied, want: "not sealed to this key"},
		{name: "wrong sender", sealed: sealed, sender: sender2, key: recipient, kind: tilgang.Denied, want: "not sealed to this key"},
		{name: "tampered", sealed: tampered, sender: sender, key: recipient, kind: tilgang.Denied, want: "or altered"},
		{name: "not base64url", sealed: sealed + "==", sender: sender, key: recipient, kind: tilgang.Invalid, want: "not unpadded base64url"},
		{name: "too short", sealed: "eGt2MQ", sender: sender, key: recipient, kind: tilgang.Invalid},
		{name: "bad sender", sealed: sealed, sender: "XNOPE", key: recipient, kind: tilgang.Invalid, want: `sender "XNOPE" is not an nkeys curve public key`},
		{name: "user key cannot open", sealed: sealed, sender: sender, key: testKey(t, 1), kind: tilgang.Invalid},
		{name: "no key", sealed: sealed, sender: sender, kind: tilgang.Invalid, want: "no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pt, err := Open(tt.sealed, tt.sender, tt.key)
			if tt.kind == "" {
				require.NoError(t, err)
				require.Equal(t, "Sommer2025!", string(pt))
				return
			}
			requireKind(t, err, tt.kind, tt.want)
			require.Nil(t, pt)
		})
	}
}

func TestSealRefusesBadRecipient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		recipient string
		want      string
	}{
		{"empty", "", `recipient "" is not an nkeys curve public key`},
		{"user key", pubOf(t, testKey(t, 1)), "is not an nkeys curve public key"},
		{"seed", "SXAGARBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEA", "is not an nkeys curve public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Seal([]byte("x"), tt.recipient)
			requireKind(t, err, tilgang.Invalid, tt.want)
			require.NotContains(t, err.Error(), "SXAG", "a seed is never echoed")
		})
	}
}
