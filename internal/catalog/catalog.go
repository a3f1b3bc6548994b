// Package catalog turns a system catalogue spreadsheet (systemoversikt: one
// row per fagsystem with its id, name, owner/systemeier, systemansvarlig and
// systemkoordinator) into policy file skeletons for policies/, as `tilgang
// catalog import FILE.csv|FILE.xlsx` does.
//
// Decisions:
//   - Columns are found by their header, in Norwegian or English, in any
//     order: system (id), navn/name, systemeier/owner,
//     systemansvarlig/administrators, systemkoordinator/coordinator, and
//     optionally connectors. Several ids in one cell are separated by
//     commas, semicolons, spaces or line breaks. A CSV may use ; or , (the
//     first line decides); an xlsx is read from its first sheet.
//   - A row without a system id gets one from its name: lower case, æ ø å
//     as ae o a, anything else but letters, digits, - and _ as -.
//   - A skeleton loads as-is: it has one placeholder role, bruker, on the
//     manual connector, requested by the manager and approved by a
//     systemansvarlig, so nothing is given without a person deciding and
//     doing it by hand until the faggruppe fills in the real roles
//     (marked TODO). A row without a systemansvarlig gives a file that
//     `tilgang policy check` refuses until one is named: a system nobody
//     administers must not get grants.
//   - An existing file is never overwritten (created with O_EXCL); it is
//     reported as skipped.
package catalog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/xuri/excelize/v2"
)

// Row is one system of the spreadsheet.
type Row struct {
	Line           int // in the spreadsheet, 1 = the header
	System, Name   string
	Owner          string
	Administrators []string
	Coordinator    string
	Connectors     []string
}

// Result says what Import did with each row.
type Result struct {
	Row     Row
	File    string
	Written bool
	Why     string // why not written
}

var columns = map[string][]string{
	"system":         {"system", "systemid", "system id", "system_id", "id"},
	"name":           {"name", "navn", "systemnavn", "system name"},
	"owner":          {"owner", "systemeier", "eier", "system owner"},
	"administrators": {"administrators", "systemansvarlig", "systemansvarlige", "administrator"},
	"coordinator":    {"coordinator", "systemkoordinator", "koordinator"},
	"connectors":     {"connectors", "connector", "koplinger", "integrasjon"},
}

// Read reads the rows of a .csv or .xlsx file.
func Read(path string) ([]Row, error) {
	var records [][]string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data = bytes.TrimPrefix(data, []byte("\ufeff"))
		first, _, _ := bytes.Cut(data, []byte("\n"))
		r := csv.NewReader(bytes.NewReader(data))
		if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
			r.Comma = ';'
		}
		r.FieldsPerRecord = -1
		if records, err = r.ReadAll(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case ".xlsx":
		f, err := excelize.OpenFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) == 0 {
			return nil, fmt.Errorf("%s: no sheets", path)
		}
		if records, err = f.GetRows(sheets[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("%s: give a .csv or .xlsx file", path)
	}
	return parse(path, records)
}

func parse(path string, records [][]string) ([]Row, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%s: empty: the first row must name the columns (system, navn, systemeier, systemansvarlig, systemkoordinator)", path)
	}
	col := map[string]int{}
	for i, h := range records[0] {
		h = strings.ToLower(strings.TrimSpace(h))
		for key, names := range columns {
			for _, n := range names {
				if h == n {
					if _, dup := col[key]; !dup {
						col[key] = i
					}
				}
			}
		}
	}
	_, hasID := col["system"]
	_, hasName := col["name"]
	if !hasID && !hasName {
		return nil, fmt.Errorf("%s:1: no system or navn column among %q", path, records[0])
	}
	cell := func(rec []string, key string) string {
		i, ok := col[key]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var rows []Row
	for n, rec := range records[1:] {
		r := Row{Line: n + 2, System: cell(rec, "system"), Name: cell(rec, "name"), Owner: cell(rec, "owner"),
			Administrators: ids(cell(rec, "administrators")), Coordinator: cell(rec, "coordinator"), Connectors: ids(cell(rec, "connectors"))}
		if r.System == "" && r.Name == "" {
			continue // an empty line
		}
		if r.System == "" {
			r.System = r.Name
		}
		r.System = ID(r.System)
		if r.Name == "" {
			r.Name = r.System
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func ids(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// ID makes a system id from a name: lower case, æ ø å as ae o a, other
// characters than letters, digits, - and _ as -.
func ID(s string) string {
	s = strings.NewReplacer("æ", "ae", "ø", "o", "å", "a", "Æ", "ae", "Ø", "o", "Å", "a").Replace(strings.TrimSpace(s))
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Import writes a skeleton for each row into dir, never overwriting a file.
func Import(rows []Row, dir string) ([]Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []Result
	seen := map[string]bool{}
	for _, r := range rows {
		res := Result{Row: r, File: filepath.Join(dir, r.System+".yaml")}
		switch {
		case r.System == "":
			res.Why = "no usable system id"
		case seen[r.System]:
			res.Why = "the system appears twice in the spreadsheet"
		}
		seen[r.System] = true
		if res.Why != "" {
			out = append(out, res)
			continue
		}
		f, err := os.OpenFile(res.File, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			res.Why = "exists: not overwritten"
			out = append(out, res)
			continue
		}
		if err != nil {
			return out, err
		}
		_, werr := io.WriteString(f, Skeleton(r))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return out, werr
		}
		res.Written = true
		out = append(out, res)
	}
	return out, nil
}

func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func list(xs []string) string {
	qs := make([]string, len(xs))
	for i, x := range xs {
		qs[i] = q(x)
	}
	return "[" + strings.Join(qs, ", ") + "]"
}

// Skeleton is the policy file for a row.
func Skeleton(r Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: imported from the systemoversikt (row %d). TODO: the faggruppe fills in the real roles;\n", r.Name, r.Line)
	b.WriteString("# until then the placeholder role gives nothing but a manual task approved by a systemansvarlig.\n")
	fmt.Fprintf(&b, "system: %s\nname: %s\nowner: %s\n", r.System, q(r.Name), q(r.Owner))
	fmt.Fprintf(&b, "administrators: %s   # systemansvarlig\n", list(r.Administrators))
	if r.Coordinator != "" {
		fmt.Fprintf(&b, "coordinator: %s\n", q(r.Coordinator))
	}
	conns := r.Connectors
	if !slices.Contains(conns, "manual") {
		conns = append(slices.Clone(conns), "manual") // the placeholder role is a manual task
	}
	fmt.Fprintf(&b, "connectors: %s\n", list(conns))
	b.WriteString("roles:\n  - id: bruker   # TODO: the real roles\n    entitlements:\n")
	fmt.Fprintf(&b, "      manual: [%s]\n", q("TODO: "+r.Name+": bruker"))
	b.WriteString("    requestable_by: [manager]\n    approval: [systemansvarlig]\n")
	return b.String()
}
