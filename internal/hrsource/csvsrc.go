package hrsource

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
)

// CSVType is the type name of the CSV source.
const CSVType = "csv"

// CSVConfig reads a CSV file of one row per employment, the rows of one
// person sharing its id (they need not be adjacent). Example:
//
//	type: csv
//	delimiter: ";"                  # default ","; ";" is common in Norway
//	date_format: "02.01.2006"       # a Go layout; default 2006-01-02
//	municipality: "1547"            # when there is no municipality column
//	columns:                        # header names; id, given_name, family_name,
//	  id: Ansattnr                  # employment_id and start are required
//	  given_name: Fornavn
//	  family_name: Etternavn
//	  email: Epost
//	  municipality: Kommunenr
//	  employment_id: Stillingsnr
//	  org_unit: Enhet
//	  position: Stilling
//	  percent: Prosent
//	  primary: Hovedstilling        # true/false, ja/nei, 1/0, x or empty
//	  manager: Leder                # a person id
//	  start: Fra
//	  end: Til                      # empty, or 2099-12-31 and later: no end
//
// The file is UTF-8, with or without a byte order mark; the first row is
// the header. Columns not mapped (a fødselsnummer among them) are never
// read. A row whose field count differs from the header's is an error of
// the whole read (a cut file); a row with bad values rejects its person.
type CSVConfig struct {
	Delimiter    string     `yaml:"delimiter"`
	DateFormat   string     `yaml:"date_format"`
	Municipality string     `yaml:"municipality"`
	Columns      CSVColumns `yaml:"columns"`
}

// CSVColumns names the header of each field.
type CSVColumns struct {
	ID           string `yaml:"id"`
	GivenName    string `yaml:"given_name"`
	FamilyName   string `yaml:"family_name"`
	Email        string `yaml:"email"`
	Municipality string `yaml:"municipality"`
	EmploymentID string `yaml:"employment_id"`
	OrgUnit      string `yaml:"org_unit"`
	Position     string `yaml:"position"`
	Percent      string `yaml:"percent"`
	Primary      string `yaml:"primary"`
	Manager      string `yaml:"manager"`
	Start        string `yaml:"start"`
	End          string `yaml:"end"`
}

func (c CSVColumns) each(f func(field, header string, required bool)) {
	f("id", c.ID, true)
	f("given_name", c.GivenName, true)
	f("family_name", c.FamilyName, true)
	f("email", c.Email, false)
	f("municipality", c.Municipality, false)
	f("employment_id", c.EmploymentID, true)
	f("org_unit", c.OrgUnit, false)
	f("position", c.Position, false)
	f("percent", c.Percent, false)
	f("primary", c.Primary, false)
	f("manager", c.Manager, false)
	f("start", c.Start, true)
	f("end", c.End, false)
}

func (c CSVConfig) withDefaults() CSVConfig {
	if c.Delimiter == "" {
		c.Delimiter = ","
	}
	if c.DateFormat == "" {
		c.DateFormat = time.DateOnly
	}
	return c
}

// Validate reports every problem of the config at once.
func (c *CSVConfig) Validate() error {
	d := c.withDefaults()
	var errs []string
	if r, n := utf8.DecodeRuneInString(d.Delimiter); n != len(d.Delimiter) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		errs = append(errs, fmt.Sprintf("delimiter %s must be one character other than a quote or line break", quote(d.Delimiter)))
	}
	probe := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	if back, err := time.Parse(d.DateFormat, probe.Format(d.DateFormat)); err != nil || !back.Equal(probe) {
		errs = append(errs, fmt.Sprintf("date_format %s is not a Go layout of a whole date (for example 2006-01-02 or 02.01.2006)", quote(d.DateFormat)))
	}
	seen := map[string]string{}
	d.Columns.each(func(field, header string, required bool) {
		switch {
		case header == "" && required:
			errs = append(errs, fmt.Sprintf("columns.%s is empty: name the header of that column", field))
		case header != "" && seen[header] != "":
			errs = append(errs, fmt.Sprintf("columns.%s and columns.%s name the same column %s", seen[header], field, quote(header)))
		}
		if header != "" && seen[header] == "" {
			seen[header] = field
		}
	})
	if d.Columns.Municipality == "" && d.Municipality == "" {
		errs = append(errs, "set municipality or columns.municipality")
	}
	errs = append(errs, municipalityProblems(d.Municipality, false)...)
	return problems(CSVType, errs)
}

// Open validates the config and returns the source.
func (c *CSVConfig) Open() (Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &csvSource{cfg: c.withDefaults()}, nil
}

type csvSource struct{ cfg CSVConfig }

type csvGroup struct {
	p    tilgang.Person
	row  int
	errs []string
}

func (s *csvSource) Read(ctx context.Context, in Input) (Snapshot, error) {
	if in.File == nil {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "csv: no file to read")
	}
	return readCSV(in.File, s.cfg)
}

func readCSV(f io.Reader, cfg CSVConfig) (Snapshot, error) {
	br := bufio.NewReader(f)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	r := csv.NewReader(br)
	r.Comma, _ = utf8.DecodeRuneInString(cfg.Delimiter)
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "csv: the file is empty: no header row")
		}
		return Snapshot{}, tilgang.Wrap(tilgang.Invalid, err, "csv: read the header")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	idx := map[string]int{}
	var missing []string
	cfg.Columns.each(func(field, h string, _ bool) {
		if h == "" {
			return
		}
		if i, ok := col[h]; ok {
			idx[field] = i
		} else {
			missing = append(missing, fmt.Sprintf("columns.%s %s", field, quote(h)))
		}
	})
	if len(missing) > 0 {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "csv: the header lacks %s", strings.Join(missing, ", "))
	}
	groups := map[string]*csvGroup{}
	var order []string
	var c collector
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Snapshot{}, tilgang.Wrap(tilgang.Invalid, err, "csv: read the rows")
		}
		row, _ := r.FieldPos(0)
		v := func(field string) string {
			if i, ok := idx[field]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		id := v("id")
		if id == "" {
			c.reject("", "row %d: %s is empty", row, quote(cfg.Columns.ID))
			continue
		}
		person := tilgang.Person{ID: id, GivenName: v("given_name"), FamilyName: v("family_name"),
			Email: v("email"), Municipality: v("municipality")}
		if person.Municipality == "" {
			person.Municipality = cfg.Municipality
		}
		g := groups[id]
		if g == nil {
			g = &csvGroup{p: person, row: row}
			g.p.Employments = []tilgang.Employment{}
			groups[id] = g
			order = append(order, id)
		} else {
			for _, d := range []struct{ field, a, b string }{
				{"given_name", g.p.GivenName, person.GivenName}, {"family_name", g.p.FamilyName, person.FamilyName},
				{"email", g.p.Email, person.Email}, {"municipality", g.p.Municipality, person.Municipality}} {
				if d.a != d.b {
					g.errs = append(g.errs, fmt.Sprintf("rows %d and %d disagree on %s", g.row, row, d.field))
				}
			}
		}
		e := tilgang.Employment{ID: v("employment_id"), OrgUnit: v("org_unit"), Position: v("position"), Manager: v("manager")}
		at := fmt.Sprintf("row %d", row)
		if e.Percent, err = parsePercent(v("percent")); err != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: %v", at, err))
		}
		if e.Primary, err = parseBool(v("primary")); err != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: primary: %v", at, err))
		}
		if e.Start, err = csvDate(v("start"), cfg.DateFormat); err != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: start: %v", at, err))
		}
		if e.End, err = csvDate(v("end"), cfg.DateFormat); err != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: end: %v", at, err))
		} else if e.End.Y >= openEnd {
			e.End = tilgang.Date{}
		}
		g.p.Employments = append(g.p.Employments, e)
	}
	for _, id := range order {
		g := groups[id]
		if len(g.errs) > 0 {
			c.reject(id, "%s", strings.Join(g.errs, "; "))
			continue
		}
		c.people = append(c.people, g.p)
	}
	return c.finish(), nil
}

func csvDate(s, layout string) (tilgang.Date, error) {
	if s == "" {
		return tilgang.Date{}, nil
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return tilgang.Date{}, fmt.Errorf("%s is not a date of the form %s", quote(s), layout)
	}
	return tilgang.Date{Y: t.Year(), M: int(t.Month()), D: t.Day()}, nil
}
