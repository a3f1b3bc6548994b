package principals

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestEnsureDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := EnsureDev(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"dev", "hr", "portal"}, s.IDs())

	for _, c := range []struct {
		name string
		cap  string
		want bool
	}{
		{"dev", tilgang.CapOnBehalf, true},
		{"dev", tilgang.CapAuditor, true},
		{"dev", tilgang.CapOperator, true},
		{"dev", tilgang.CapHR, false},
		{"hr", tilgang.CapHR, true},
		{"hr", tilgang.CapOnBehalf, false},
		{"portal", tilgang.CapOnBehalf, true},
		{"portal", tilgang.CapOperator, false},
		{"portal", tilgang.CapAuditor, false},
	} {
		require.Equal(t, c.want, s.Can(c.name, c.cap), "%s %s", c.name, c.cap)
	}

	kd := filepath.Join(dir, "keys")
	fi, err := os.Stat(kd)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	for _, f := range []struct{ name, prefix string }{{"dev.nk", "SU"}, {"dev.xk", "SX"}, {"hr.nk", "SU"}, {"portal.nk", "SU"}} {
		b, err := os.ReadFile(filepath.Join(kd, f.name))
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(b, []byte(f.prefix)), "%s holds %s...", f.name, f.prefix)
		require.Equal(t, bytes.TrimSpace(b), b, "%s holds the seed alone", f.name)
		fi, err := os.Stat(filepath.Join(kd, f.name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f.name)
	}
	entries, err := os.ReadDir(kd)
	require.NoError(t, err)
	require.Len(t, entries, 4, "no temporary files left behind")

	devKP, err := LoadSeed(filepath.Join(kd, "dev.nk"))
	require.NoError(t, err)
	dev, ok := s.Get("dev")
	require.True(t, ok)
	require.Equal(t, KindService, dev.Kind)
	require.Equal(t, pubOf(t, devKP), dev.Key)

	// dev signs on behalf of anyone; hr signs as itself.
	e := baseEnvelope()
	e.Actor, e.Via = "1547-10234", "dev"
	require.NoError(t, e.Sign(devKP))
	signer, err := s.Verify(e)
	require.NoError(t, err)
	require.Equal(t, "dev", signer)

	hrKP, err := LoadSeed(filepath.Join(kd, "hr.nk"))
	require.NoError(t, err)
	e = baseEnvelope()
	e.Actor, e.Via = "hr", ""
	require.NoError(t, e.Sign(hrKP))
	_, err = s.Verify(e)
	require.NoError(t, err)

	// dev acts for persons and for hr (its on_behalf_of), never for others.
	require.NoError(t, s.MayActFor("dev", "hr"))
	other, err := New([]Principal{{ID: "ops", Kind: KindService, Key: pubOf(t, testKey(t, 7)), Capabilities: []string{tilgang.CapOperator}}})
	require.NoError(t, err)
	all, err := Merge(s, other)
	require.NoError(t, err)
	requireKind(t, all.MayActFor("dev", "ops"), tilgang.Denied, "service principal")

	// Credentials sealed to dev open with dev.xk.
	curve, err := LoadCurveSeed(filepath.Join(kd, "dev.xk"))
	require.NoError(t, err)
	sealed, sender, err := Seal([]byte("Hemmelig-1"), dev.CurveKey)
	require.NoError(t, err)
	pt, err := Open(sealed, sender, curve)
	require.NoError(t, err)
	require.Equal(t, "Hemmelig-1", string(pt))

	// A second call reuses the keys.
	again, err := EnsureDev(dir)
	require.NoError(t, err)
	require.Equal(t, s.All(), again.All())
}

func TestEnsureDevConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	sets := make([]*Set, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { sets[i], errs[i] = EnsureDev(dir) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, sets[0].All(), sets[i].All(), "every caller sees the same keys")
	}
}

func TestEnsureDevRefusesReadableSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := EnsureDev(dir)
	require.NoError(t, err)
	path := filepath.Join(dir, "keys", "dev.nk")
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = EnsureDev(dir)
	requireKind(t, err, tilgang.Denied, path, "readable by others (mode 0644)")
}

func TestLoadSeed(t *testing.T) {
	t.Parallel()
	user := testKey(t, 5)
	userSeed, err := user.Seed()
	require.NoError(t, err)
	curveSeed, err := nkeys.EncodeSeed(nkeys.PrefixByteCurve, bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	account, err := nkeys.FromRawSeed(nkeys.PrefixByteAccount, bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	accountSeed, err := account.Seed()
	require.NoError(t, err)

	tests := []struct {
		name    string
		content []byte // nil = no file
		curve   bool
		kind    tilgang.Kind
		want    string
	}{
		{name: "user seed", content: userSeed},
		{name: "surrounding white space", content: append(append([]byte("\n  "), userSeed...), "\r\n"...)},
		{name: "curve seed", content: curveSeed, curve: true},
		{name: "missing", kind: tilgang.NotFound, want: "does not exist: it should hold an nkeys user seed (SU...)"},
		{name: "empty", content: []byte{}, kind: tilgang.Invalid, want: "does not hold an nkeys user seed"},
		{name: "public key", content: []byte(pubOf(t, user)), kind: tilgang.Invalid, want: "does not hold an nkeys user seed"},
		{name: "broken seed", content: append(bytes.Clone(userSeed[:len(userSeed)-2]), "AA"...), kind: tilgang.Invalid, want: "does not hold an nkeys user seed"},
		{name: "curve seed as user seed", content: curveSeed, kind: tilgang.Invalid, want: "holds an nkeys x25519 seed, not an nkeys user seed"},
		{name: "account seed", content: accountSeed, kind: tilgang.Invalid, want: "holds an nkeys account seed"},
		{name: "user seed as curve seed", content: userSeed, curve: true, kind: tilgang.Invalid, want: "holds an nkeys user seed, not an nkeys curve seed (SX...)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "key.nk")
			if tt.content != nil {
				require.NoError(t, os.WriteFile(path, tt.content, 0o600))
			}
			load := LoadSeed
			if tt.curve {
				load = LoadCurveSeed
			}
			kp, err := load(path)
			if tt.want == "" {
				require.NoError(t, err)
				seed, err := kp.Seed()
				require.NoError(t, err)
				require.Equal(t, string(bytes.TrimSpace(tt.content)), string(seed))
				return
			}
			requireKind(t, err, tt.kind, path, tt.want)
			require.NotContains(t, err.Error(), string(userSeed), "a seed must never be echoed")
		})
	}
}
