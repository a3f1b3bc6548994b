package scim

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

const defaultEnvFile = "/var/tmp/tilgang-scim/env"

// testEnv is what deploy/scim-testenv.sh wrote. Without it the test skips,
// except under CI=true, where it fails: CI never skips the SCIM peer.
func testEnv(t testing.TB) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"TILGANG_SCIM_URL", "TILGANG_SCIM_TOKEN", "TILGANG_SCIM_TOKEN_FILE"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	if env["TILGANG_SCIM_URL"] == "" {
		path := os.Getenv("TILGANG_SCIM_ENV_FILE")
		if path == "" {
			path = defaultEnvFile
		}
		f, err := os.Open(path)
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok {
					env[k] = v
				}
			}
		}
		if err == nil && env["TILGANG_SCIM_URL"] != "" {
			// The env file may be stale (the server stopped): check it answers.
			req, _ := http.NewRequest("GET", env["TILGANG_SCIM_URL"]+"/ServiceProviderConfig", nil)
			req.Header.Set("Authorization", "Bearer "+env["TILGANG_SCIM_TOKEN"])
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		if err != nil {
			msg := fmt.Sprintf("no SCIM test peer (%v); start one with: bash deploy/scim-testenv.sh start", err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return env
}

var runID = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

var seq atomic.Int64

func person(given, family string) tilgang.Person {
	id := fmt.Sprintf("t%s-%d", runID, seq.Add(1))
	return tilgang.Person{ID: id, GivenName: given, FamilyName: family, Municipality: "1547", Email: id + "@aukra.kommune.no"}
}

// admin is a plain SCIM client for reading and seeding the peer directly:
// tests check the peer, not the connector's word.
type admin struct {
	t     testing.TB
	url   string
	token string
}

func newAdmin(t testing.TB) *admin {
	env := testEnv(t)
	return &admin{t: t, url: env["TILGANG_SCIM_URL"], token: env["TILGANG_SCIM_TOKEN"]}
}

func (a *admin) call(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// makeGroup creates a group of this run and returns its displayName and id.
func (a *admin) makeGroup(name string) (string, string) {
	a.t.Helper()
	name = name + "-" + runID + fmt.Sprint(seq.Add(1))
	status, g := a.call("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name})
	require.Equal(a.t, 201, status, "%v", g)
	return name, g["id"].(string)
}

// memberCount is how often the user is listed as a member of the group.
func (a *admin) memberCount(gid, uid string) int {
	a.t.Helper()
	status, g := a.call("GET", "/Groups/"+gid, nil)
	require.Equal(a.t, 200, status)
	n := 0
	ms, _ := g["members"].([]any)
	for _, m := range ms {
		if m.(map[string]any)["value"] == uid {
			n++
		}
	}
	return n
}

// users lists the users with the filter.
func (a *admin) users(filter string) []map[string]any {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/Users", nil)
	q := req.URL.Query()
	q.Set("filter", filter)
	q.Set("count", "1000")
	req.URL.RawQuery = q.Encode()
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	var lr struct{ Resources []map[string]any }
	require.NoError(a.t, json.NewDecoder(resp.Body).Decode(&lr))
	return lr.Resources
}

func testConfig(t testing.TB, url string) Config {
	env := testEnv(t)
	if url == "" {
		url = env["TILGANG_SCIM_URL"]
	}
	cfg := Config{BaseURL: url, UserName: "{email}", PageSize: 50}
	if f := env["TILGANG_SCIM_TOKEN_FILE"]; f != "" {
		cfg.Auth = Auth{Type: "bearer", TokenFile: f}
	} else {
		t.Setenv("TILGANG_TEST_SCIM_TOKEN", env["TILGANG_SCIM_TOKEN"])
		cfg.Auth = Auth{Type: "bearer", TokenEnv: "TILGANG_TEST_SCIM_TOKEN"}
	}
	return cfg
}

func openTest(t testing.TB, url string, mod func(*Config)) *Connector {
	t.Helper()
	cfg := testConfig(t, url)
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open("scim-test", cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
