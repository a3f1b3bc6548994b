package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// `hr sync --source NAME` runs a source of the worker config: its file,
// its fail-safe shares and, unless --key is given, its key.
func TestHRSyncConfiguredSource(t *testing.T) {
	w := newSyncWorld(t)
	policies, err := filepath.Abs("../../policies")
	require.NoError(t, err)
	principalsFile, err := filepath.Abs("../principals/testdata/example.yaml")
	require.NoError(t, err)
	people := syncPeople(10)
	file := w.file(t, "lonn.json", people)
	hrKey := filepath.Join(w.env.Data, "keys", principals.HRSeedFile)
	cfg := filepath.Join(w.dir, "worker.yaml")
	write := func(shares string) {
		require.NoError(t, os.WriteFile(cfg, []byte(strings.Join([]string{
			"nats: {url: " + w.env.URL + ", stream_replicas: 1}",
			"ledger: {driver: sqlite, dsn: " + filepath.Join(w.dir, "unused.db") + "}",
			"principals: " + principalsFile,
			"worker_key: " + filepath.Join(w.env.Data, "keys", principals.HRSeedFile),
			"policies: " + policies,
			"connectors: {manual: {type: manual}, noop: {type: noop}}",
			"hr_sources:",
			"  lonn: {type: json, file: " + file + ", key: " + hrKey + ", fail_safe: " + shares + "}",
		}, "\n")+"\n"), 0o600))
	}
	write("{max_leave_share: 0.5, max_change_share: 0.5}")
	code, out, errOut := w.sync(t, "", "--source", "lonn", "--config", cfg, "--output", "json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := decodeSync(t, out)
	require.Equal(t, hrsourceSummary("lonn", 10, 10, 0, 0, 0), r.Summary)
	require.Equal(t, 10, r.Accepted)
	require.Len(t, w.snapshot(t, "lonn"), 10)

	// 3 of 10 leave: within the source's 50 %, above the default 10 %.
	w.file(t, "lonn.json", people[:7])
	code, out, errOut = w.sync(t, "", "--source", "lonn", "--config", cfg, "--output", "json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Equal(t, 3, decodeSync(t, out).Leavers)

	// The default shares hold the next 2 of 7.
	write("{}")
	w.file(t, "lonn.json", people[:5])
	code, out, errOut = w.sync(t, "", "--source", "lonn", "--config", cfg)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "held: nothing was sent: 2 of 7 people would leave (28.6 %); the limit is 10.0 %")

	code, _, errOut = w.sync(t, "", "--source", "visma", "--config", cfg)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "has no hr_sources.visma")
}

// Rejections by the worker are reported person by person, with the kind
// of event and its request id: here the signer may read the kept snapshot
// (an auditor) but holds no hr capability.
func TestHRSyncReportsRejectionsPerPerson(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	key := filepath.Join(dir, "revisor.nk")
	require.NoError(t, os.WriteFile(key, seed, 0o600))
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, testenv.Catalogue,
		principals.Principal{ID: "revisor", Kind: principals.KindService, Name: "Revisjon", Key: pub,
			Capabilities: []string{tilgang.CapAuditor}})
	w := &syncWorld{env: e, devKey: filepath.Join(e.Data, "keys", principals.DevSeedFile), dir: dir}
	code, out, errOut := w.sync(t, key, "--type", "json", "--file", w.file(t, "1.json", syncPeople(2)), "--wait", "30s")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "the worker rejected 2 of 2 events")
	for _, p := range []string{"1547-101", "1547-102"} {
		require.Regexp(t, `rejected by the worker \(joiner, request [0-9a-f]{64}\): `+p+`: revisor has no hr capability`, out)
	}
}

// Rejections by the read are reported person by person too: the record
// that does not validate is named with the reason, the others go through,
// and the person rejected keeps their state (here: never joined).
func TestHRSyncReportsReadRejectionsPerPerson(t *testing.T) {
	w := newSyncWorld(t)
	people := syncPeople(3)
	people[1].GivenName = ""
	people[2].Employments[0].Percent = 150
	_, out, errOut := w.sync(t, w.devKey, "--type", "json", "--file", w.file(t, "1.json", people), "--wait", "30s")
	require.Contains(t, out, "source json: 1 people: to send 1 joiners, 0 movers, 0 leavers; 0 unchanged, 2 rejected\n", "stderr: %s", errOut)
	require.Contains(t, out, "rejected by the read: 1547-102: person.given_name is empty\n")
	require.Regexp(t, `rejected by the read: 1547-103: [^\n]*percent 150 is outside 0\.\.100\n`, out)
	require.NotContains(t, out, "rejected by the read: 1547-101")
	require.Contains(t, out, "sent 1: accepted 1, rejected 0, ignored 0\n")
	snap := w.snapshot(t, "json")
	require.Contains(t, snap, "1547-101")
	require.NotContains(t, snap, "1547-102")
	require.NotContains(t, snap, "1547-103")

	_, out, errOut = w.sync(t, w.devKey, "--type", "json", "--file", w.file(t, "2.json", people), "--output", "json")
	r := decodeSync(t, out)
	require.Len(t, r.Rejections, 2, "stderr: %s", errOut)
	require.ElementsMatch(t, []string{"1547-102", "1547-103"}, []string{r.Rejections[0].Person, r.Rejections[1].Person})
	for _, rj := range r.Rejections {
		require.Equal(t, "read", rj.By)
		require.NotEmpty(t, rj.Reason)
	}
}

// hr import against a real worker reports the worker's rejections record
// by record, with the person and the request id: the signer holds no hr
// capability.
func TestHRImportReportsWorkerRejectionsPerPerson(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	key := filepath.Join(dir, "revisor.nk")
	require.NoError(t, os.WriteFile(key, seed, 0o600))
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, testenv.Catalogue,
		principals.Principal{ID: "revisor", Kind: principals.KindService, Name: "Revisjon", Key: pub,
			Capabilities: []string{tilgang.CapAuditor}})
	w := &syncWorld{env: e, devKey: filepath.Join(e.Data, "keys", principals.DevSeedFile), dir: dir}
	f := w.file(t, "people.json", syncPeople(2))
	vars := map[string]string{envNATS: e.URL, envKey: key}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"hr", "import", f, "--wait", "30s"}, options{Stdout: &out, Stderr: &errOut,
		Stdin: strings.NewReader(""), Getenv: func(k string) string { return vars[k] }, Now: time.Now})
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	require.Contains(t, out.String(), "accepted 0, rejected 2, ignored 0\n")
	for i, p := range []string{"1547-101", "1547-102"} {
		require.Regexp(t, fmt.Sprintf(`rejected: record %d \(%s, request [0-9a-f]{64}\): revisor has no hr capability`, i+1, p), out.String())
	}
}
