package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// writeSeed writes a fresh seed of kind (user or curve) to path, mode 0600,
// and returns its public key.
func writeSeed(t *testing.T, path string, curve bool) string {
	t.Helper()
	var kp nkeys.KeyPair
	var err error
	if curve {
		kp, err = nkeys.CreateCurveKeys()
	} else {
		kp, err = nkeys.CreateUser()
	}
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, seed, 0o600))
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	return pub
}

// TestCredentialOpenFindsTheSignersCurveKey: with --key keys/<principal>.nk
// the curve seed is keys/<principal>.xk, not dev.xk.
func TestCredentialOpenFindsTheSignersCurveKey(t *testing.T) {
	w := newWorld(t)
	const manager = "1547-10001"
	keys := filepath.Join(t.TempDir(), "keys")
	userKey := filepath.Join(keys, manager+".nk")
	writeSeed(t, userKey, false)
	curvePub := writeSeed(t, filepath.Join(keys, manager+".xk"), true)

	sealed, sender, err := principals.Seal([]byte("Hemmeleg-Passord-1"), curvePub)
	require.NoError(t, err)
	ev, err := json.Marshal(map[string]any{"subject": "1547-10234", "time": "2026-12-01T10:00:00Z",
		"data": map[string]any{"recipient": manager, "sealed": sealed, "sender": sender, "username": "aseove"}})
	require.NoError(t, err)
	_, err = w.js.Publish(context.Background(), "tilgang.event."+tilgang.EvCredentialIssued+".1547-10234", ev)
	require.NoError(t, err)

	code, out, errOut := w.run(t, nil, "--key", userKey, "credential", "open", "--output", "json")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	var got []map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 1)
	require.Equal(t, "aseove", got[0]["Username"])
	require.Equal(t, "Hemmeleg-Passord-1", got[0]["Password"])

	t.Run("no curve seed beside the key", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "keys", "1547-10002.nk")
		writeSeed(t, other, false)
		code, out, errOut := w.run(t, nil, "--key", other, "credential", "open")
		require.Equal(t, 1, code, "stdout: %s", out)
		want := filepath.Join(filepath.Dir(other), "1547-10002.xk")
		require.Contains(t, errOut, want+" does not exist")
		require.Contains(t, errOut, "--curve-key FILE")
		require.Contains(t, errOut, "nk -gen curve")
		require.NotContains(t, errOut, "dev.xk")
	})
}
