package httpconn

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, v string
		want    time.Duration
		ok      bool
	}{
		{"seconds", "120", 2 * time.Minute, true},
		{"an HTTP date", now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{"a date past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"missing", "", 0, false},
		{"garbage", "soon", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.v != "" {
				h.Set("Retry-After", tc.v)
			}
			got, ok := RetryAfter(h, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(f, []byte("hemmelig\n"), 0o600))
	s, err := Secret("scim", "token", "", f)
	require.NoError(t, err)
	require.Equal(t, "hemmelig", s)
	t.Setenv("TILGANG_TEST_TOKEN", "fra-miljøet")
	s, err = Secret("scim", "token", "TILGANG_TEST_TOKEN", f)
	require.NoError(t, err)
	require.Equal(t, "fra-miljøet", s)
	_, err = Secret("rest", "token", "TILGANG_NO_SUCH_TOKEN", "")
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "rest: environment variable TILGANG_NO_SUCH_TOKEN is empty")
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = Secret("scim", "password", "", empty)
	require.Contains(t, err.Error(), "auth password_file "+empty+" is empty")
}

func TestTransportError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want tilgang.Kind
	}{
		{"timed out", context.DeadlineExceeded, tilgang.Unavailable},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, tilgang.Unavailable},
		{"untrusted certificate", x509.UnknownAuthorityError{}, tilgang.Denied},
		{"already classified", tilgang.Errorf(tilgang.Throttled, "slow down"), tilgang.Throttled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := TransportError(tc.err, "scim: grant")
			require.Equal(t, tc.want, tilgang.KindOf(err))
			require.Contains(t, err.Error(), "scim: grant")
		})
	}
}

func TestRetryAndRateLimitDefaultsAndProblems(t *testing.T) {
	var r Retry
	var l RateLimit
	r.Defaults()
	l.Defaults()
	if *r.Max != 3 || r.WaitMin != 200*time.Millisecond || r.WaitMax != 5*time.Second || r.MaxRetryAfter != 10*time.Second {
		t.Fatalf("retry defaults: %+v (max %d)", r, *r.Max)
	}
	if l.Burst != 1 || l.Concurrency != 4 {
		t.Fatalf("rate limit defaults: %+v", l)
	}
	if p := append(r.Problems(), l.Problems()...); len(p) != 0 {
		t.Fatalf("the defaults have problems: %v", p)
	}
	eleven := 11
	bad := Retry{Max: &eleven, WaitMin: time.Second, WaitMax: time.Millisecond, MaxRetryAfter: time.Hour}
	got := strings.Join(bad.Problems(), "\n")
	for _, want := range []string{"retry.max 11", "retry.wait_min", "retry.max_retry_after 1h0m0s"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q do not name %q", got, want)
		}
	}
	if p := (RateLimit{PerSecond: 5, Burst: 5, Concurrency: 300}).Problems(); len(p) != 1 || !strings.Contains(p[0], "concurrency 1..256") {
		t.Errorf("rate limit problems: %v", p)
	}
}

func TestStatusKind(t *testing.T) {
	ra := http.Header{"Retry-After": {"7"}}
	for _, c := range []struct {
		status int
		h      http.Header
		kind   tilgang.Kind
		wait   time.Duration
	}{
		{429, ra, tilgang.Throttled, 7 * time.Second}, {429, nil, tilgang.Throttled, 0},
		{503, ra, tilgang.Throttled, 7 * time.Second}, {503, nil, tilgang.Unavailable, 0}, {500, nil, tilgang.Unavailable, 0},
		{408, nil, tilgang.Unavailable, 0}, {401, nil, tilgang.Denied, 0}, {403, nil, tilgang.Denied, 0},
		{404, nil, tilgang.NotFound, 0}, {410, nil, tilgang.NotFound, 0}, {409, nil, tilgang.Conflict, 0},
		{412, nil, tilgang.Conflict, 0}, {400, nil, tilgang.Invalid, 0}, {422, nil, tilgang.Invalid, 0}, {302, nil, tilgang.Invalid, 0},
	} {
		kind, wait := StatusKind(c.status, c.h)
		require.Equal(t, c.kind, kind, "%d", c.status)
		require.Equal(t, c.wait, wait, "%d", c.status)
	}
}

func TestAuth(t *testing.T) {
	t.Setenv("TEST_HTTPCONN_TOKEN", "s3cret")
	h, err := Auth{Type: "bearer", TokenEnv: "TEST_HTTPCONN_TOKEN"}.Header("rest")
	require.NoError(t, err)
	require.Equal(t, "Bearer s3cret", h)
	file := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(file, []byte("hemmelig\n"), 0o600))
	h, err = Auth{Type: "basic", Username: "tilgang", PasswordFile: file}.Header("scim")
	require.NoError(t, err)
	require.Equal(t, "Basic dGlsZ2FuZzpoZW1tZWxpZw==", h) // tilgang:hemmelig
	h, err = Auth{Type: "none"}.Header("rest")
	require.NoError(t, err)
	require.Empty(t, h)
	_, err = Auth{Type: "bearer", TokenEnv: "TEST_HTTPCONN_UNSET"}.Header("rest")
	require.ErrorContains(t, err, "TEST_HTTPCONN_UNSET")

	require.Empty(t, Auth{Type: "bearer", TokenEnv: "TEST_HTTPCONN_TOKEN"}.Problems("bearer", "basic"))
	for _, c := range []struct {
		a    Auth
		want string
	}{
		{Auth{Type: "none"}, `auth.type "none" must be bearer or basic`},
		{Auth{Type: "bearer"}, "auth: set token_env or token_file"},
		{Auth{Type: "bearer", TokenEnv: "X", TokenFile: file}, "auth: set only one of token_env and token_file"},
		{Auth{Type: "bearer", TokenEnv: "TEST_HTTPCONN_UNSET"}, "auth.token_env: the environment variable TEST_HTTPCONN_UNSET is empty or unset"},
		{Auth{Type: "basic", PasswordFile: file}, "auth.username is empty"},
		{Auth{Type: "basic", Username: "u", PasswordFile: file + ".gone"}, "auth.password_file:"},
	} {
		got := strings.Join(c.a.Problems("bearer", "basic"), "\n")
		require.Contains(t, got, c.want, "%+v", c.a)
	}
}
