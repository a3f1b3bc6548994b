package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ror-ikt/tilgang/internal/cli"
	"github.com/ror-ikt/tilgang/internal/graphemu"
	"github.com/stretchr/testify/require"
)

// TestMain makes the test binary the tilgang binary when asked, so the
// walkthrough test runs the real command line as a user would.
func TestMain(m *testing.M) {
	if os.Getenv("TILGANG_TEST_AS_BINARY") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyDir(t *testing.T, from, to string) {
	require.NoError(t, os.CopyFS(to, os.DirFS(from)))
}

// TestREADMEWalkthrough runs the README's walkthrough, line by line as
// written, against `tilgang dev`, so the README stays true.
func TestREADMEWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## Walkthrough.*?```\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README has a walkthrough block")
	block := string(m[1])

	dir, natsURL := startDev(t)
	copyDir(t, "../../deploy/examples", filepath.Join(dir, "deploy", "examples"))
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tilgang"), []byte(fmt.Sprintf("#!/bin/sh\nTILGANG_TEST_AS_BINARY=1 exec %q \"$@\"\n", self)), 0o755))

	// As written, except: the binary is already there, dev listens on
	// another port, and each message gets a moment to be processed (a
	// person typing the next line takes longer than that).
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		if strings.HasPrefix(line, "go build") {
			continue
		}
		line = strings.ReplaceAll(line, "nats://127.0.0.1:4223", natsURL)
		script.WriteString(line + "\n")
		if regexp.MustCompile(`^\s*(\./tilgang (approve|training|deny|task|grant (retry|cancel))|R=|G=)`).MatchString(line) {
			script.WriteString("sleep 0.5\n")
		}
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output:\n%s", out)
	require.NoError(t, err)

	// The two grants of the walkthrough end where the README says.
	grants := exec.Command(filepath.Join(dir, "tilgang"), "grants", "--person", "1547-10412", "--output", "json", "--nats", natsURL, "--key", filepath.Join(dir, ".tilgang", "keys", "dev.nk"))
	grants.Dir = dir
	b, err := grants.Output()
	require.NoError(t, err)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(b, &list), string(b))
	states := map[string]string{}
	for _, g := range list {
		states[g["system"].(string)+"/"+g["role"].(string)] = g["state"].(string)
	}
	require.Equal(t, "active", states["public360/saksbehandler"], string(b))
	require.Equal(t, "provisioning", states["gerica/superbruker"], string(b))
	require.Contains(t, string(out), "ok true", "audit verify passes")
}

// config check --targets asks the entra instance about the catalogue's
// groups: one synced from AD and one missing are reported with their file
// and line; a cloud group passes.
func TestConfigCheckTargets(t *testing.T) {
	emu := graphemu.New(graphemu.Options{ClientID: "app", ClientSecret: "s3cret"})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	emu.AddGroup("APP-Cloud", false)
	emu.AddGroup("APP-Synced", true)
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(pol, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pol, "gerica.yaml"), []byte(`system: gerica
name: Gerica
owner: Helse
administrators: [1547-20001]
connectors: [entra]
roles:
  - id: bruker
    entitlements: {entra: [APP-Cloud]}
    requestable_by: [manager]
    approval: []
  - id: admin
    entitlements: {entra: [APP-Synced, APP-Missing]}
    requestable_by: [manager]
    approval: []
`), 0o644))
	principalsFile, err := filepath.Abs("../../internal/principals/testdata/example.yaml")
	require.NoError(t, err)
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret"), 0o600))
	workerKey := filepath.Join(dir, "worker.nk")
	require.NoError(t, os.WriteFile(workerKey, []byte("SUAEXAMPLE\n"), 0o600))
	cfg := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("nats: {url: nats://nats-1:4222, stream_replicas: 1}\nledger: {driver: postgres}\n"+
		"principals: "+principalsFile+"\nworker_key: "+workerKey+"\npolicies: "+pol+"\nconnectors:\n  entra: {type: entra, tenant: ror, client_id: app, client_secret_file: "+secret+
		", graph_url: "+srv.URL+"/v1.0, authority_url: "+srv.URL+", upn_suffix: ror.test}\n"), 0o600))
	t.Setenv("TILGANG_LEDGER_DSN", "postgres://db-1/tilgang")
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"config", "check", "--targets", "--config", cfg}, &stdout, &stderr)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), `gerica.yaml:11: gerica/admin: entra "APP-Synced": group "APP-Synced" is synced from Active Directory`)
	require.Contains(t, stdout.String(), `gerica.yaml:11: gerica/admin: entra "APP-Missing":`)
	require.NotContains(t, stdout.String(), `"APP-Cloud"`)
}
