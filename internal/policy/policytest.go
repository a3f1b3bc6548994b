package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
)

// Policy tests sit beside the catalogue, in DIR/tests/*.yaml (and in
// DIR/*_test.yaml), so a systemansvarlig can check a rule change before it
// goes live with `tilgang policy test [DIR]`. A file holds cases of a
// person, a request and the expected decision:
//
//	now: 2026-03-02            # the day decisions are planned from (default: today)
//	cases:
//	  - name: a nurse in hjemmetjenesten may have Gerica
//	    person: {id: 1547-10412, org_unit: helse/hjemmetjenesten, position: sykepleier, manager: 1547-10300}
//	    request: {system: gerica, role: bruker, by: manager}   # by: manager | self | administrator | hr | birthright
//	    held: [gerica/admin]     # open grants the person has
//	    expect: {decision: denied, rule: conflicts, reason: "gerica/admin"}
//	  - name: nurses get Gerica by birthright
//	    person: {id: 1547-10412, org_unit: helse/hjemmetjenesten, position: sykepleier}
//	    expect: {birthright: [gerica/bruker]}
//	  - name: from August the teacher's record is in effect
//	    at: 2026-08-01           # the day whose record is decided with (default: now)
//	    person: {id: 1547-10412, employments: [...]}
//	    expect: {birthright: [visma-flyt-skole/laerer]}
//
// A person is either the shorthand (org_unit, position, manager: one
// primary employment) or a full HR record with employments. The record is
// decided with as it is in effect on the case's at (tilgang.Person.At), as
// the worker does: employments that have ended or not yet started are left
// out, unless none has started (then the first ahead). expect may
// name decision (allowed | denied), rule, reason (a part of it), approval,
// training, until (the end date if the grant became active on now),
// shortened, and birthright (every system/role the birthright rules give the
// person, sorted). Only what a case names is compared.

// TestFailure is one case that did not hold, or a file that could not be read.
type TestFailure struct {
	File string
	Line int
	Case string
	Msg  string
}

func (f TestFailure) String() string {
	if f.Case == "" {
		return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Case, f.Msg)
}

// TestReport is what RunTests found.
type TestReport struct {
	Files, Cases int
	Failures     []TestFailure
}

type testFile struct {
	Now   string     `yaml:"now"`
	Cases []testCase `yaml:"cases"`
}

type testCase struct {
	Name    string       `yaml:"name"`
	Now     string       `yaml:"now"`
	At      string       `yaml:"at"`
	Person  testPerson   `yaml:"person"`
	Request *testRequest `yaml:"request"`
	Held    []string     `yaml:"held"`
	Expect  testExpect   `yaml:"expect"`
}

type testPerson struct {
	ID           string           `yaml:"id"`
	Municipality string           `yaml:"municipality"`
	OrgUnit      string           `yaml:"org_unit"`
	Position     string           `yaml:"position"`
	Manager      string           `yaml:"manager"`
	Employments  []testEmployment `yaml:"employments"`
}

type testEmployment struct {
	ID       string  `yaml:"id"`
	Primary  bool    `yaml:"primary"`
	Percent  float64 `yaml:"percent"`
	OrgUnit  string  `yaml:"org_unit"`
	Position string  `yaml:"position"`
	Manager  string  `yaml:"manager"`
	Start    string  `yaml:"start"`
	End      string  `yaml:"end"`
}

type testRequest struct {
	System string `yaml:"system"`
	Role   string `yaml:"role"`
	By     string `yaml:"by"`
	Until  string `yaml:"until"`
	Reason string `yaml:"reason"`
}

type testExpect struct {
	Decision   string    `yaml:"decision"`
	Rule       string    `yaml:"rule"`
	Reason     string    `yaml:"reason"`
	Approval   *[]string `yaml:"approval"`
	Training   *bool     `yaml:"training"`
	Until      string    `yaml:"until"`
	Shortened  *bool     `yaml:"shortened"`
	Birthright *[]string `yaml:"birthright"`
}

// TestFiles lists the policy test files of the catalogue in dir.
func TestFiles(dir string) ([]string, error) {
	var out []string
	for _, pat := range []string{filepath.Join(dir, "tests", "*.yaml"), filepath.Join(dir, "*_test.yaml")} {
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}

// RunTests runs the policy tests in files against cat; today is the default
// "now" of the cases.
func RunTests(cat *Catalogue, files []string, today time.Time) TestReport {
	var rep TestReport
	for _, f := range files {
		rep.Files++
		data, err := os.ReadFile(f)
		if err != nil {
			rep.Failures = append(rep.Failures, TestFailure{File: f, Msg: err.Error()})
			continue
		}
		n, fails := runTestFile(cat, f, data, today)
		rep.Cases += n
		rep.Failures = append(rep.Failures, fails...)
	}
	return rep
}

func runTestFile(cat *Catalogue, file string, data []byte, today time.Time) (int, []TestFailure) {
	fail := func(line int, c, format string, args ...any) TestFailure {
		return TestFailure{File: file, Line: line, Case: c, Msg: fmt.Sprintf(format, args...)}
	}
	var tf testFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil && !errors.Is(err, io.EOF) {
		line, msg := 0, err.Error()
		if m := yamlLineRE.FindStringSubmatch(strings.TrimPrefix(strings.SplitN(msg, "\n", 2)[0], "yaml: unmarshal errors:")); m != nil {
			fmt.Sscan(m[1], &line)
			msg = m[2]
		} else if i := strings.Index(msg, "line "); i >= 0 {
			fmt.Sscan(msg[i+5:], &line)
			msg = strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:\n"))
		}
		return 0, []TestFailure{fail(line, "", "cannot read the tests: %s", msg)}
	}
	// The lines of the cases, for the report.
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := caseLines(&doc)
	var out []TestFailure
	for i, c := range tf.Cases {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("case %d", i+1)
		}
		for _, msg := range runCase(cat, tf.Now, c, today) {
			out = append(out, fail(line, name, "%s", msg))
		}
	}
	return len(tf.Cases), out
}

func caseLines(doc *yaml.Node) []int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "cases" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, c := range m.Content[i+1].Content {
				out = append(out, c.Line)
			}
			return out
		}
	}
	return nil
}

// runCase returns what differed, in words; nothing when the case holds.
func runCase(cat *Catalogue, fileNow string, c testCase, today time.Time) []string {
	now := today
	for _, s := range []string{fileNow, c.Now} {
		if s == "" {
			continue
		}
		d, err := tilgang.ParseDate(s)
		if err != nil {
			return []string{fmt.Sprintf("now %q is not a date YYYY-MM-DD", s)}
		}
		now = d.Start().Add(12 * time.Hour)
	}
	at := now
	if c.At != "" {
		d, err := tilgang.ParseDate(c.At)
		if err != nil {
			return []string{fmt.Sprintf("at %q is not a date YYYY-MM-DD", c.At)}
		}
		at = d.Start().Add(12 * time.Hour)
	}
	whole, err := c.Person.record()
	if err != nil {
		return []string{err.Error()}
	}
	inEffect := whole.At(at)
	person := &inEffect
	var diffs []string
	differ := func(what string, want, got any) {
		diffs = append(diffs, fmt.Sprintf("expected %s %v, got %v", what, want, got))
	}
	if e := c.Expect.Birthright; e != nil {
		gives, err := BirthrightRoles(cat, person)
		if err != nil {
			diffs = append(diffs, "birthright: "+err.Error())
		}
		got := make([]string, 0, len(gives))
		for k := range gives {
			got = append(got, k)
		}
		sort.Strings(got)
		want := slices.Clone(*e)
		sort.Strings(want)
		if !slices.Equal(want, got) {
			differ("birthright", want, got)
		}
	}
	if c.Request == nil {
		if c.Expect.Decision != "" || c.Expect.Rule != "" {
			diffs = append(diffs, "expect names a decision but the case has no request")
		}
		return diffs
	}
	r := Request{System: c.Request.System, Role: c.Request.Role, Actor: "policy-test", Reason: c.Request.Reason, Now: now}
	switch c.Request.By {
	case "birthright":
		r.Birthright = true
	case ByManager, BySelf, ByAdministrator, ByHR:
		r.Relations = []string{c.Request.By}
	case "":
		r.When = AtProvisioning // who asks is not tested
	default:
		return append(diffs, fmt.Sprintf("request by %q: use manager, self, administrator, hr or birthright", c.Request.By))
	}
	if c.Request.Until != "" {
		if r.ValidUntil, err = tilgang.ParseDate(c.Request.Until); err != nil {
			return append(diffs, fmt.Sprintf("request until %q is not a date YYYY-MM-DD", c.Request.Until))
		}
	}
	var held []Held
	for i, h := range c.Held {
		sys, role, ok := strings.Cut(h, "/")
		if !ok {
			return append(diffs, fmt.Sprintf("held %q is not system/role", h))
		}
		held = append(held, Held{GrantID: fmt.Sprintf("held-%d", i+1), System: sys, Role: role, State: tilgang.StateActive})
	}
	d := Decide(cat, person, r, held)
	e := c.Expect
	got := "allowed"
	if !d.Allowed {
		got = "denied"
	}
	if e.Decision != "" && e.Decision != got {
		diffs = append(diffs, fmt.Sprintf("expected %s, got %s%s", e.Decision, got, because(d)))
	}
	if e.Rule != "" && e.Rule != d.Rule {
		differ("rule", e.Rule, orNone(d.Rule)+because(d))
	}
	if e.Reason != "" && !strings.Contains(d.Reason, e.Reason) {
		diffs = append(diffs, fmt.Sprintf("expected a reason containing %q, got %q", e.Reason, d.Reason))
	}
	if e.Approval != nil && !slices.Equal(*e.Approval, d.Approval) {
		differ("approval", *e.Approval, d.Approval)
	}
	if e.Training != nil && *e.Training != d.RequiresTraining {
		differ("training", *e.Training, d.RequiresTraining)
	}
	if e.Until != "" && e.Until != d.End.String() {
		differ("until", e.Until, orNone(d.End.String()))
	}
	if e.Shortened != nil && *e.Shortened != d.Shortened {
		differ("shortened", *e.Shortened, d.Shortened)
	}
	return diffs
}

func because(d Decision) string {
	if d.Reason == "" {
		return ""
	}
	return " (" + d.Reason + ")"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (p testPerson) record() (*tilgang.Person, error) {
	id := p.ID
	if id == "" {
		id = "test-person"
	}
	out := &tilgang.Person{ID: id, Municipality: p.Municipality}
	if len(p.Employments) == 0 {
		out.Employments = []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: p.OrgUnit,
			Position: p.Position, Manager: p.Manager, Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}
		return out, nil
	}
	for _, e := range p.Employments {
		emp := tilgang.Employment{ID: e.ID, Primary: e.Primary, Percent: e.Percent, OrgUnit: e.OrgUnit, Position: e.Position, Manager: e.Manager}
		var err error
		if e.Start != "" {
			if emp.Start, err = tilgang.ParseDate(e.Start); err != nil {
				return nil, fmt.Errorf("employment start %q is not a date YYYY-MM-DD", e.Start)
			}
		}
		if e.End != "" {
			if emp.End, err = tilgang.ParseDate(e.End); err != nil {
				return nil, fmt.Errorf("employment end %q is not a date YYYY-MM-DD", e.End)
			}
		}
		out.Employments = append(out.Employments, emp)
	}
	return out, nil
}
