package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
)

var principalNow = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

func runPrincipal(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"principal"}, args...), options{Stdout: &out, Stderr: &errOut,
		Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }, Now: func() time.Time { return principalNow }})
	return code, out.String(), errOut.String()
}

const principalsHead = "# tilgang production principals: public keys only\nprincipals:\n"

func signedBy(t *testing.T, seed string) *envelope.Envelope {
	t.Helper()
	kp, err := principals.LoadSeed(seed)
	require.NoError(t, err)
	e := &envelope.Envelope{SpecVersion: "1.0", ID: "msg-1", Source: "tilgang-cli", Type: tilgang.TypeRequest, Subject: "1547-10234",
		Time: "2026-12-04T16:00:00Z", Actor: "1547-20001", Via: "portal", Data: json.RawMessage(`{"action":"grant"}`)}
	require.NoError(t, e.Sign(kp))
	return e
}

func TestPrincipalAdd(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.yaml")
	require.NoError(t, os.WriteFile(file, []byte(principalsHead), 0o644))
	seed := filepath.Join(dir, "portal.nk")

	code, out, errOut := runPrincipal("add", "--id", "portal", "--kind", "service", "--capabilities", "on_behalf", "--curve",
		"--principals", file, "--seed", seed)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "added portal (service)")
	for _, f := range []string{seed, filepath.Join(dir, "portal.xk")} {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(text), principalsHead), "the comment stays:\n%s", text)
	for _, f := range []string{seed, filepath.Join(dir, "portal.xk")} {
		secret, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotContains(t, string(text), strings.TrimSpace(string(secret)), "no seed in the principals file")
	}
	set, err := principals.Load(file)
	require.NoError(t, err)
	p, ok := set.Get("portal")
	require.True(t, ok)
	require.True(t, set.Can("portal", tilgang.CapOnBehalf))
	kp, err := principals.LoadSeed(seed)
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	require.Equal(t, pub, p.Key)
	curve, err := principals.LoadCurveSeed(filepath.Join(dir, "portal.xk"))
	require.NoError(t, err)
	cpub, err := curve.PublicKey()
	require.NoError(t, err)
	require.Equal(t, cpub, p.CurveKey)
	_, err = set.Verify(signedBy(t, seed))
	require.NoError(t, err)

	// A principals file that does not exist yet is made.
	fresh := filepath.Join(dir, "new.yaml")
	code, _, errOut = runPrincipal("add", "--id", "worker", "--kind", "service", "--principals", fresh, "--seed", filepath.Join(dir, "worker.nk"))
	require.Equal(t, exitOK, code, errOut)
	set, err = principals.Load(fresh)
	require.NoError(t, err)
	require.Equal(t, []string{"worker"}, set.IDs())
}

// What add refuses leaves the principals file as it was and writes no seed.
func TestPrincipalAddRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.yaml")
	require.NoError(t, os.WriteFile(file, []byte(principalsHead), 0o644))
	code, _, errOut := runPrincipal("add", "--id", "portal", "--kind", "service", "--capabilities", "on_behalf",
		"--principals", file, "--seed", filepath.Join(dir, "portal.nk"))
	require.Equal(t, exitOK, code, errOut)
	before, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "taken.nk"), []byte("not a seed"), 0o600))

	tests := []struct {
		name string
		args []string
		seed string
		want string
		code int
	}{
		{"existing id", []string{"--id", "portal", "--kind", "service"}, "portal2.nk", `principal "portal" exists`, exitFailed},
		{"service capability for a person", []string{"--id", "1547-20001", "--kind", "person", "--capabilities", "hr"}, "kari.nk",
			"principals.yaml:10: principal \"1547-20001\": a person may hold only operator, auditor, hr_requester, not \"hr\"", exitFailed},
		{"unknown kind", []string{"--id", "x", "--kind", "robot"}, "x.nk", `kind "robot" must be person or service`, exitFailed},
		{"existing seed file", []string{"--id", "hr", "--kind", "service", "--capabilities", "hr"}, "taken.nk", "taken.nk already exists", exitUsage},
		{"existing curve seed file", []string{"--id", "hr", "--kind", "service", "--curve"}, "taken.nk", "taken.nk already exists", exitUsage},
		{"no --seed", []string{"--id", "hr", "--kind", "service"}, "", "--seed is required", exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"add", "--principals", file}, tt.args...)
			if tt.seed != "" {
				args = append(args, "--seed", filepath.Join(dir, tt.seed))
			}
			code, _, errOut := runPrincipal(args...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.want)
			after, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, string(before), string(after), "the file is unchanged")
			if tt.seed != "taken.nk" && tt.seed != "" {
				_, err := os.Stat(filepath.Join(dir, tt.seed))
				require.ErrorIs(t, err, os.ErrNotExist, "no seed written")
			}
		})
	}
	taken, err := os.ReadFile(filepath.Join(dir, "taken.nk"))
	require.NoError(t, err)
	require.Equal(t, "not a seed", string(taken))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "nothing left aside: %v", entries) // principals.yaml, portal.nk, taken.nk
}

// After rotate a message signed with the old seed verifies within the
// grace and not after; the new seed verifies at once. Revoke ends both.
func TestPrincipalRotateRevoke(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.yaml")
	require.NoError(t, os.WriteFile(file, []byte(principalsHead), 0o644))
	oldSeed, newSeed := filepath.Join(dir, "portal.nk"), filepath.Join(dir, "portal-2.nk")
	code, _, errOut := runPrincipal("add", "--id", "portal", "--kind", "service", "--capabilities", "on_behalf",
		"--principals", file, "--seed", oldSeed)
	require.Equal(t, exitOK, code, errOut)

	code, out, errOut := runPrincipal("rotate", "--id", "portal", "--grace", "48h", "--principals", file, "--seed", newSeed)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "verifies messages until 2026-12-06T15:00:00Z")
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(text), principalsHead))

	var at time.Time
	set, err := principals.Load(file)
	require.NoError(t, err)
	set = set.WithClock(func() time.Time { return at })
	byOld, byNew := signedBy(t, oldSeed), signedBy(t, newSeed)
	for _, tt := range []struct {
		at      time.Time
		oldOK   bool
		comment string
	}{
		{principalNow, true, "at once"},
		{principalNow.Add(47 * time.Hour), true, "within the grace"},
		{principalNow.Add(48 * time.Hour), false, "at until"},
		{principalNow.Add(30 * 24 * time.Hour), false, "long after"},
	} {
		at = tt.at
		_, err := set.Verify(byOld)
		if tt.oldOK {
			require.NoError(t, err, tt.comment)
		} else {
			require.ErrorContains(t, err, "bad signature", tt.comment)
		}
		_, err = set.Verify(byNew)
		require.NoError(t, err, tt.comment)
	}

	// The new seed file is never replaced, nor the principals file changed.
	code, _, errOut = runPrincipal("rotate", "--id", "portal", "--principals", file, "--seed", newSeed)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "already exists")
	code, _, errOut = runPrincipal("rotate", "--id", "nobody", "--principals", file, "--seed", filepath.Join(dir, "x.nk"))
	require.Equal(t, exitFailed, code)
	require.Contains(t, errOut, `no principal "nobody"`)
	after, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(text), string(after))

	code, out, errOut = runPrincipal("revoke", "--id", "portal", "--principals", file)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "revoked portal")
	set, err = principals.Load(file)
	require.NoError(t, err)
	at = principalNow
	set = set.WithClock(func() time.Time { return at })
	for _, e := range []*envelope.Envelope{byOld, byNew} {
		_, err = set.Verify(e)
		require.ErrorContains(t, err, `revoked signer: the keys of via "portal" are revoked`)
	}
}
