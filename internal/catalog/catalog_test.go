package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/ror-ikt/tilgang/internal/policy"
)

const sheet = "\ufeffSystem;Navn;Systemeier;Systemansvarlig;Systemkoordinator\n" +
	"gerica;Gerica;Helse og omsorg;1547-20001, 1506-20002;1506-90001\n" +
	";Visma Flyt Skole;Oppvekst;1539-20010;1506-90002\n" +
	"\n" +
	"plania;Plania;Teknisk;1557-20060;\n" +
	"nobody;Uten ansvarlig;Stab;;\n"

func TestImportCSV(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "systemoversikt.csv")
	require.NoError(t, os.WriteFile(src, []byte(sheet), 0o644))
	rows, err := Read(src)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, Row{Line: 3, System: "visma-flyt-skole", Name: "Visma Flyt Skole", Owner: "Oppvekst", Administrators: []string{"1539-20010"}, Coordinator: "1506-90002", Connectors: []string{}}, rows[1])
	require.Equal(t, []string{"1547-20001", "1506-20002"}, rows[0].Administrators)

	dir := t.TempDir()
	existing := []byte("# hand-written\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plania.yaml"), existing, 0o644))
	res, err := Import(rows, dir)
	require.NoError(t, err)
	require.Len(t, res, 4)
	require.True(t, res[0].Written)
	require.True(t, res[1].Written)
	require.False(t, res[2].Written)
	require.Equal(t, "exists: not overwritten", res[2].Why)
	got, err := os.ReadFile(filepath.Join(dir, "plania.yaml"))
	require.NoError(t, err)
	require.Equal(t, existing, got, "never overwritten")

	// The skeletons load as they are, but the one without a
	// systemansvarlig, which policy check names.
	require.NoError(t, os.Remove(filepath.Join(dir, "plania.yaml")))
	probs := policy.Check(dir, []string{"manual", "noop"})
	require.NotEmpty(t, probs)
	for _, p := range probs {
		require.Equal(t, filepath.Join(dir, "nobody.yaml"), p.File, p.String())
	}
	require.NoError(t, os.Remove(filepath.Join(dir, "nobody.yaml")))
	cat, err := policy.Load(dir, []string{"manual", "noop"})
	require.NoError(t, err)
	require.Len(t, cat.Systems, 2)
	s := cat.Systems["gerica"]
	require.Equal(t, "Helse og omsorg", s.Owner)
	require.Equal(t, "1506-90001", s.Coordinator)
	require.Equal(t, []string{"manual"}, s.Connectors)
}

func TestImportXLSX(t *testing.T) {
	t.Parallel()
	f := excelize.NewFile()
	rows := [][]any{
		{"Systemnavn", "System ID", "Systemeier", "Systemansvarlige", "Koordinator", "Connectors"},
		{"Public 360", "public360", "Fellestjenester", "1506-20020\n1506-20021", "1506-90003", "noop"},
		{"Økonomi Ås", "", "Økonomi", "1535-20030", "", ""},
	}
	for i, r := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		require.NoError(t, err)
		require.NoError(t, f.SetSheetRow("Sheet1", cell, &r))
	}
	src := filepath.Join(t.TempDir(), "systemoversikt.xlsx")
	require.NoError(t, f.SaveAs(src))
	got, err := Read(src)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "public360", got[0].System)
	require.Equal(t, []string{"1506-20020", "1506-20021"}, got[0].Administrators)
	require.Equal(t, "okonomi-as", got[1].System)

	dir := t.TempDir()
	res, err := Import(got, dir)
	require.NoError(t, err)
	require.True(t, res[0].Written && res[1].Written)
	cat, err := policy.Load(dir, []string{"manual", "noop"})
	require.NoError(t, err)
	require.Equal(t, []string{"noop", "manual"}, cat.Systems["public360"].Connectors)
	require.Equal(t, "Økonomi Ås", cat.Systems["okonomi-as"].Name)
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{"x.txt": "a", "empty.csv": "", "nocols.csv": "a,b\n1,2\n"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		_, err := Read(p)
		require.Error(t, err, name)
	}
}
