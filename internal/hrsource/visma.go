package hrsource

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// VismaType is the type name of the Visma Enterprise HRM web service source.
const VismaType = "visma-hrm"

// VismaConfig reads Visma Enterprise HRM's XML web service. Example:
//
//	type: visma-hrm
//	base_url: https://hrm.aukra.kommune.no       # the host serving /hrm_ws
//	auth: { type: basic, username: WS-AD, password_env: TILGANG_VISMA_PASSWORD }
//	company: "1"                                 # the HRM company (firma) number
//	municipality: "1547"                         # person ids are 1547-{personIdHRM}
//	id_start: 1                                  # persons are read in pages over
//	id_end: 99999                                # personIdHRM id_start..id_end,
//	page_size: 1000                              # page_size ids a page
//	days_future: 30                              # future starters up to 30 days ahead; -1: none
type VismaConfig struct {
	BaseURL      string        `yaml:"base_url"`
	Auth         httpconn.Auth `yaml:"auth"`
	Company      string        `yaml:"company"`
	Municipality string        `yaml:"municipality"`
	IDStart      int64         `yaml:"id_start"`
	IDEnd        int64         `yaml:"id_end"`
	PageSize     int64         `yaml:"page_size"`
	DaysFuture   int           `yaml:"days_future"`
}

// String describes the config without its secrets.
func (c VismaConfig) String() string {
	return fmt.Sprintf("visma-hrm{base_url=%s company=%s credentials=(redacted)}", c.BaseURL, c.Company)
}

func (c VismaConfig) withDefaults() VismaConfig {
	if c.Auth.Type == "" {
		c.Auth.Type = "basic"
	}
	if c.IDStart == 0 {
		c.IDStart = 1
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	if c.DaysFuture == 0 {
		c.DaysFuture = 30
	}
	return c
}

// Validate reports every problem of the config at once.
func (c *VismaConfig) Validate() error {
	d := c.withDefaults()
	errs := baseURLProblems(d.BaseURL, false)
	errs = append(errs, d.Auth.Problems("basic")...)
	if !tilgang.ValidToken(d.Company) {
		errs = append(errs, fmt.Sprintf("company %s must be the HRM company number", quote(d.Company)))
	}
	errs = append(errs, municipalityProblems(d.Municipality, true)...)
	if d.IDStart < 0 {
		errs = append(errs, fmt.Sprintf("id_start %d is negative", d.IDStart))
	}
	if d.IDEnd < d.IDStart {
		errs = append(errs, fmt.Sprintf("id_end %d must be at least id_start %d (the highest personIdHRM to read)", d.IDEnd, d.IDStart))
	}
	if d.PageSize < 1 {
		errs = append(errs, fmt.Sprintf("page_size %d must be positive", d.PageSize))
	}
	if d.DaysFuture < -1 {
		errs = append(errs, fmt.Sprintf("days_future %d must be -1 (none) or more", d.DaysFuture))
	}
	return problems(VismaType, errs)
}

// Open validates the config and reads the password.
func (c *VismaConfig) Open() (Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := c.withDefaults()
	auth, err := d.Auth.Header(VismaType)
	if err != nil {
		return nil, err
	}
	return &visma{cfg: d, auth: auth}, nil
}

type visma struct {
	cfg  VismaConfig
	auth string
}

type vmPersons struct {
	XMLName xml.Name   `xml:"personsXML"`
	Persons []vmPerson `xml:"person"`
}

// The elements read; ssn, dateOfBirth, private contact data and the rest
// are skipped by the decoder.
type vmPerson struct {
	ID          string         `xml:"personIdHRM,attr"`
	GivenName   string         `xml:"givenName"`
	FamilyName  string         `xml:"familyName"`
	Email       string         `xml:"contactInfo>email"`
	Employments []vmEmployment `xml:"employments>employment"`
}

type vmEmployment struct {
	EmployeeID string       `xml:"employeeId"`
	StartDate  string       `xml:"startDate"`
	EndDate    string       `xml:"endDate"`
	Positions  []vmPosition `xml:"positions>position"`
}

type vmPosition struct {
	Primary   string `xml:"isPrimaryPosition,attr"`
	ValidFrom string `xml:"validFromDate,attr"`
	Start     string `xml:"positionStartDate"`
	End       string `xml:"positionEndDate"`
	Percent   string `xml:"positionPercentage"`
	Code      struct {
		ID   string `xml:"positionId,attr"`
		Name string `xml:"name,attr"`
	} `xml:"positionInfo>positionCode"`
	Unit struct {
		ID      string `xml:"id,attr"`
		Manager struct {
			ID string `xml:"id,attr"`
		} `xml:"manager"`
	} `xml:"chart>unit"`
	WorkClass struct {
		Name string `xml:"name,attr"`
	} `xml:"positionStatistics>workClassification"`
}

type vmCharts struct {
	XMLName xml.Name `xml:"charts"`
	Units   []struct {
		ID      string `xml:"id,attr"`
		Parent  string `xml:"parentid,attr"`
		Manager struct {
			ID string `xml:"id,attr"`
		} `xml:"manager"`
	} `xml:"chart>units>unit"`
}

func (s *visma) Read(ctx context.Context, in Input) (Snapshot, error) {
	base, err := in.base(s.cfg.BaseURL)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", VismaType, err)
	}
	today := in.today()
	c := s.cfg
	fetch := func(path string, v any) error {
		b, err := get(ctx, VismaType, in.Client, base, path, s.auth, "application/xml")
		if err != nil {
			return err
		}
		if err := xml.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
			return tilgang.Wrap(tilgang.Invalid, err, "%s: GET %s: decode", VismaType, path)
		}
		return nil
	}
	var chart vmCharts
	if err := fetch(fmt.Sprintf("/hrm_ws/secure/organization/chart/%s/%s/", today, c.Company), &chart); err != nil {
		return Snapshot{}, err
	}
	var persons []vmPerson
	for a := c.IDStart; a <= c.IDEnd; a += c.PageSize {
		b := min(a+c.PageSize-1, c.IDEnd)
		var page vmPersons
		if err := fetch(fmt.Sprintf("/hrm_ws/secure/persons/company/%s/start-id/%d/end-id/%d", c.Company, a, b), &page); err != nil {
			return Snapshot{}, err
		}
		persons = append(persons, page.Persons...)
	}
	if c.DaysFuture >= 0 {
		var page vmPersons
		path := fmt.Sprintf("/hrm_ws/secure/persons/company/%s/not-started/date-interval/%s/%s",
			c.Company, today, plusDays(today, c.DaysFuture))
		if err := fetch(path, &page); err != nil {
			return Snapshot{}, err
		}
		// A future starter may also be among the current staff (a second
		// employment starting later): the current record already has it.
		seen := map[string]bool{}
		for _, p := range persons {
			seen[strings.TrimSpace(p.ID)] = true
		}
		for _, p := range page.Persons {
			if !seen[strings.TrimSpace(p.ID)] {
				persons = append(persons, p)
			}
		}
	}
	return decodeVisma(persons, chart, c.Municipality, today), nil
}

func decodeVisma(persons []vmPerson, chart vmCharts, municipality string, today tilgang.Date) Snapshot {
	pid := func(s string) string {
		if s = strings.TrimSpace(s); s == "" {
			return ""
		}
		return municipality + "-" + s
	}
	c := collector{tree: OrgTree{}}
	for _, u := range chart.Units {
		unit := Unit{Parent: strings.TrimSpace(u.Parent)}
		if m := pid(u.Manager.ID); m != "" {
			unit.Leaders = []string{m}
		}
		c.tree[strings.TrimSpace(u.ID)] = unit
	}
	for i, vp := range persons {
		id := pid(vp.ID)
		if id == "" {
			c.reject("", "person %d has no personIdHRM", i+1)
			continue
		}
		p := tilgang.Person{ID: id, GivenName: strings.TrimSpace(vp.GivenName), FamilyName: strings.TrimSpace(vp.FamilyName),
			Email: strings.TrimSpace(vp.Email), Municipality: municipality}
		var errs []string
		var versions []version
		for j, ve := range vp.Employments {
			for k, pos := range ve.Positions {
				at := fmt.Sprintf("employment %d position %d", j+1, k+1)
				posID := strings.TrimSpace(pos.Code.ID)
				if posID == "" {
					posID = fmt.Sprintf("p%d", k+1)
				}
				e := tilgang.Employment{ID: strings.TrimSpace(ve.EmployeeID) + "-" + posID,
					OrgUnit: strings.TrimSpace(pos.Unit.ID), Manager: pid(pos.Unit.Manager.ID),
					Position: strings.TrimSpace(pos.Code.Name)}
				if e.Position == "" {
					e.Position = strings.TrimSpace(pos.WorkClass.Name)
				}
				var err error
				if e.Primary, err = parseBool(pos.Primary); err != nil {
					errs = append(errs, fmt.Sprintf("%s isPrimaryPosition: %v", at, err))
				}
				if e.Percent, err = parsePercent(pos.Percent); err != nil {
					errs = append(errs, fmt.Sprintf("%s positionPercentage: %v", at, err))
				}
				start, end := pos.Start, pos.End
				if strings.TrimSpace(start) == "" {
					start = ve.StartDate
				}
				if strings.TrimSpace(end) == "" {
					end = ve.EndDate
				}
				if e.Start, err = parseDate(start); err != nil {
					errs = append(errs, fmt.Sprintf("%s positionStartDate: %v", at, err))
				}
				if e.End, err = parseEnd(end); err != nil {
					errs = append(errs, fmt.Sprintf("%s positionEndDate: %v", at, err))
				}
				from, err := parseDate(pos.ValidFrom)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s validFromDate: %v", at, err))
				}
				versions = append(versions, version{e: e, from: from})
			}
		}
		if len(errs) > 0 {
			c.reject(id, "%s", strings.Join(errs, "; "))
			continue
		}
		p.Employments = current(versions, today)
		c.people = append(c.people, p)
	}
	return c.finish()
}

// version is one version of an employment, valid from a date.
type version struct {
	e    tilgang.Employment
	from tilgang.Date
}

// current keeps one version per employment id: the latest valid today,
// else the earliest to come. The order of first appearance is kept.
func current(vs []version, today tilgang.Date) []tilgang.Employment {
	best := map[string]version{}
	var order []string
	for _, v := range vs {
		b, ok := best[v.e.ID]
		if !ok {
			order = append(order, v.e.ID)
			best[v.e.ID] = v
			continue
		}
		vNow, bNow := !today.Before(v.from), !today.Before(b.from)
		switch {
		case vNow && (!bNow || b.from.Before(v.from)):
			best[v.e.ID] = v
		case !vNow && !bNow && v.from.Before(b.from):
			best[v.e.ID] = v
		}
	}
	out := make([]tilgang.Employment, 0, len(order))
	for _, id := range order {
		out = append(out, best[id].e)
	}
	return out
}
