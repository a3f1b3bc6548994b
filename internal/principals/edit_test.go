package principals

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

func editFixture(t *testing.T) []byte {
	t.Helper()
	return []byte("# production principals: public keys only\nprincipals:\n  # the HR feed\n  - id: hr-feed\n    kind: service   # Visma\n    key: " +
		pubOf(t, testKey(t, keyHRFeed)) + "\n    capabilities: [hr]\n  - id: portal\n    kind: service\n    key: " +
		pubOf(t, testKey(t, keyPortal)) + "\n    capabilities: [on_behalf]\n")
}

func TestAddKeepsComments(t *testing.T) {
	t.Parallel()
	in := editFixture(t)
	out, err := Add("p.yaml", in, Principal{ID: "worker", Kind: KindService, Key: pubOf(t, testKey(t, 5)),
		CurveKey: curvePub(t, 6), Capabilities: []string{"operator"}})
	require.NoError(t, err)
	for _, c := range []string{"# production principals: public keys only", "# the HR feed", "# Visma", "capabilities: [hr]"} {
		require.Contains(t, string(out), c)
	}
	s, err := Parse("p.yaml", out)
	require.NoError(t, err)
	require.Equal(t, []string{"hr-feed", "portal", "worker"}, s.IDs())
	w, _ := s.Get("worker")
	require.Equal(t, pubOf(t, testKey(t, 5)), w.Key)
	require.Equal(t, curvePub(t, 6), w.CurveKey)
	require.True(t, s.Can("worker", "operator"))

	// A file with principals: alone, or an empty list, takes the first one.
	for _, empty := range []string{"principals:\n", "principals: []\n"} {
		out, err := Add("p.yaml", []byte(empty), Principal{ID: "worker", Kind: KindService, Key: pubOf(t, testKey(t, 5))})
		require.NoError(t, err, empty)
		s, err := Parse("p.yaml", out)
		require.NoError(t, err)
		require.Equal(t, 1, s.Len())
	}
}

func TestAddRefused(t *testing.T) {
	t.Parallel()
	in := editFixture(t)
	tests := []struct {
		name string
		p    Principal
		want []string
	}{
		{"existing id", Principal{ID: "portal", Kind: KindService, Key: pubOf(t, testKey(t, 5))}, []string{`principal "portal" exists`}},
		{"capability for a person", Principal{ID: "1547-1", Kind: KindPerson, Key: pubOf(t, testKey(t, 5)), Capabilities: []string{"hr"}},
			[]string{"left unchanged", "p.yaml:15: principal \"1547-1\": a person may hold only operator, auditor, hr_requester, not \"hr\""}},
		{"unknown capability", Principal{ID: "x", Kind: KindService, Key: pubOf(t, testKey(t, 5)), Capabilities: []string{"root"}},
			[]string{`p.yaml:15: principal "x": capability "root" is not one of`}},
		{"on_behalf_of a stranger", Principal{ID: "x", Kind: KindService, Key: pubOf(t, testKey(t, 5)), Capabilities: []string{"on_behalf"}, OnBehalfOf: []string{"nobody"}},
			[]string{`on_behalf_of names "nobody"`}},
		{"key of another", Principal{ID: "x", Kind: KindService, Key: pubOf(t, testKey(t, keyPortal))}, []string{"is also the key of principal 2"}},
		{"bad kind", Principal{ID: "x", Kind: "robot", Key: pubOf(t, testKey(t, 5))}, []string{`kind "robot" must be person or service`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Add("p.yaml", in, tt.p)
			requireKind(t, err, tilgang.Invalid, tt.want...)
			require.Nil(t, out)
		})
	}
	_, err := Add("p.yaml", []byte("principals: 3\n"), Principal{ID: "x", Kind: KindService, Key: pubOf(t, testKey(t, 5))})
	requireKind(t, err, tilgang.Invalid, "must load before it is changed", "p.yaml:1: principals must be a list")
}

// After a rotation the old key verifies messages until its until, and
// not after; the new key verifies at once; anchors take the old key for
// ever. Revoking ends every key at once.
func TestRotateAndRevoke(t *testing.T) {
	t.Parallel()
	in := editFixture(t)
	now := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	until := now.Add(7 * 24 * time.Hour)
	out, old, err := Rotate("p.yaml", in, "portal", pubOf(t, testKey(t, 7)), until)
	require.NoError(t, err)
	require.Equal(t, pubOf(t, testKey(t, keyPortal)), old)
	require.Contains(t, string(out), "# the HR feed")

	at := now
	s, err := Parse("p.yaml", out)
	require.NoError(t, err)
	s = s.WithClock(func() time.Time { return at })
	p, _ := s.Get("portal")
	require.Equal(t, []RetiredKey{{Key: old, Until: until}}, p.RetiredKeys)

	byOld, byNew := baseEnvelope(), baseEnvelope()
	require.NoError(t, byOld.Sign(testKey(t, keyPortal)))
	require.NoError(t, byNew.Sign(testKey(t, 7)))
	for _, at = range []time.Time{now, until.Add(-time.Second)} {
		signer, err := s.Verify(byOld)
		require.NoError(t, err, "within the grace, at %s", at)
		require.Equal(t, "portal", signer)
	}
	for _, at = range []time.Time{until, until.Add(time.Hour)} {
		_, err = s.Verify(byOld)
		requireKind(t, err, tilgang.Denied, `bad signature: actorsig does not verify with the key of via "portal"`)
		_, err = s.Verify(byNew)
		require.NoError(t, err)
	}
	require.Equal(t, []string{pubOf(t, testKey(t, 7)), old}, s.AnchorKeys("portal"), "anchors: the retired key for ever")

	// A second rotation keeps the first retired key.
	out2, _, err := Rotate("p.yaml", out, "portal", pubOf(t, testKey(t, 8)), until.Add(time.Hour))
	require.NoError(t, err)
	s2, err := Parse("p.yaml", out2)
	require.NoError(t, err)
	require.Equal(t, []string{pubOf(t, testKey(t, 8)), old, pubOf(t, testKey(t, 7))}, s2.AnchorKeys("portal"))

	// Rotating to a key in use, or an unknown id, is refused.
	_, _, err = Rotate("p.yaml", out, "portal", pubOf(t, testKey(t, keyHRFeed)), until)
	requireKind(t, err, tilgang.Invalid, "left unchanged", "is also the key of principal 1")
	_, _, err = Rotate("p.yaml", out, "portal", old, until)
	requireKind(t, err, tilgang.Invalid, "repeats a key of this principal")
	_, _, err = Rotate("p.yaml", out, "nobody", pubOf(t, testKey(t, 8)), until)
	requireKind(t, err, tilgang.NotFound, `no principal "nobody"`)

	// Revoke: nothing verifies at once, within the grace too.
	out3, err := Revoke("p.yaml", out, "portal", now)
	require.NoError(t, err)
	require.NotContains(t, string(out3), old)
	s3, err := Parse("p.yaml", out3)
	require.NoError(t, err)
	at = now
	s3 = s3.WithClock(func() time.Time { return at })
	for _, env := range []*envelope.Envelope{byOld, byNew} {
		_, err = s3.Verify(env)
		requireKind(t, err, tilgang.Denied, `revoked signer: the keys of via "portal" are revoked`)
	}
	require.Empty(t, s3.AnchorKeys("portal"))
	// The entry stays a service principal: another via may not act for it.
	require.Error(t, s3.MayActFor("hr-feed", "portal"))
	_, err = Revoke("p.yaml", out3, "portal", now)
	requireKind(t, err, tilgang.Invalid, "already revoked")

	// Rotating a revoked principal gives it a key again, without the old ones.
	out4, old4, err := Rotate("p.yaml", out3, "portal", pubOf(t, testKey(t, 8)), until)
	require.NoError(t, err)
	require.Empty(t, old4)
	s4, err := Parse("p.yaml", out4)
	require.NoError(t, err)
	require.Equal(t, []string{pubOf(t, testKey(t, 8))}, s4.AnchorKeys("portal"))
}

func TestLoadRetiredKeys(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := pubOf(t, testKey(t, 1)), pubOf(t, testKey(t, 2)), pubOf(t, testKey(t, 3))
	head := "principals:\n  - id: a\n    kind: service\n    key: " + k1 + "\n"
	tests := []struct {
		name string
		body string
		want []string // nil: loads
	}{
		{"valid", "    retired_keys:\n      - {key: " + k2 + ", until: 2026-12-11T15:00:00Z}\n      - key: " + k3 + "\n        until: \"2026-12-12T15:00:00+01:00\"\n", nil},
		{"not a list", "    retired_keys: " + k2 + "\n", []string{"p.yaml:5: retired_keys must be a list of {key, until}"}},
		{"item not a mapping", "    retired_keys: [" + k2 + "]\n", []string{"p.yaml:5: a retired key must be a mapping"}},
		{"missing until", "    retired_keys:\n      - key: " + k2 + "\n", []string{"p.yaml:6: principal \"a\": retired_keys[0].until is missing"}},
		{"bad until", "    retired_keys:\n      - key: " + k2 + "\n        until: next week\n", []string{`p.yaml:7: until "next week" is not a time`}},
		{"missing key", "    retired_keys:\n      - until: 2026-12-11T15:00:00Z\n", []string{"p.yaml:6: principal \"a\": retired_keys[0].key is missing"}},
		{"curve key", "    retired_keys:\n      - {key: " + curvePub(t, 4) + ", until: 2026-12-11T15:00:00Z}\n", []string{"p.yaml:6:", "retired_keys[0].key", "is not an nkeys user public key"}},
		{"unknown field", "    retired_keys:\n      - {key: " + k2 + ", until: 2026-12-11T15:00:00Z, why: lost}\n", []string{`p.yaml:6: unknown key "why": a retired key has key, until`}},
		{"repeats the current key", "    retired_keys:\n      - {key: " + k1 + ", until: 2026-12-11T15:00:00Z}\n", []string{"p.yaml:6:", "repeats a key of this principal"}},
		{"repeated", "    retired_keys:\n      - {key: " + k2 + ", until: 2026-12-11T15:00:00Z}\n      - {key: " + k2 + ", until: 2026-12-12T15:00:00Z}\n", []string{"p.yaml:7:", "retired_keys[1].key repeats a key of this principal"}},
		{"another's key", "  - id: b\n    kind: service\n    key: " + k3 + "\n    retired_keys:\n      - {key: " + k1 + ", until: 2026-12-11T15:00:00Z}\n",
			[]string{"p.yaml:9: principal \"b\": retired_keys[0].key is also the key of principal 1"}},
		{"revoked", "    revoked: 2026-12-04T15:00:00Z\n", []string{"p.yaml:5: principal \"a\": a revoked principal has no key"}},
		{"bad revoked", "    revoked: yesterday\n", []string{`p.yaml:5: revoked "yesterday" is not a time`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("p.yaml", []byte(head+tt.body))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			requireKind(t, err, tilgang.Invalid, tt.want...)
		})
	}
	s, err := Parse("p.yaml", []byte("principals:\n  - id: a\n    kind: person\n    revoked: 2026-12-04T15:00:00Z\n"))
	require.NoError(t, err)
	require.Empty(t, s.AnchorKeys("a"))
}

func TestWriteSeedNeverReplaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.nk")
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	require.NoError(t, WriteSeed(path, kp))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	got, err := LoadSeed(path)
	require.NoError(t, err)
	require.Equal(t, pubOf(t, kp), pubOf(t, got))

	other, err := nkeys.CreateUser()
	require.NoError(t, err)
	err = WriteSeed(path, other)
	requireKind(t, err, tilgang.Invalid, "already exists")
	got, err = LoadSeed(path)
	require.NoError(t, err)
	require.Equal(t, pubOf(t, kp), pubOf(t, got), "the first seed stays")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing left aside: %v", entries)
}
