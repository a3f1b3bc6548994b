package hrsource

import (
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang"
)

// Stamdata3Type is the type name of the Unit4 / ERP Kommune file source.
const Stamdata3Type = "stamdata3"

// Stamdata3Config reads a Stamdata3 XML file. Example:
//
//	type: stamdata3
//	municipality: "1547"   # kommunenummer; person ids are 1547-{ResourceId}
type Stamdata3Config struct {
	Municipality string `yaml:"municipality"`
}

// Validate reports every problem of the config at once.
func (c *Stamdata3Config) Validate() error {
	return problems(Stamdata3Type, municipalityProblems(c.Municipality, true))
}

// Open returns the source.
func (c *Stamdata3Config) Open() (Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &stamdata3{cfg: *c}, nil
}

func municipalityProblems(m string, required bool) []string {
	switch {
	case m == "" && required:
		return []string{"municipality is empty (the kommunenummer, for example \"1547\")"}
	case m != "" && !tilgang.ValidToken(m):
		return []string{fmt.Sprintf("municipality %s must be letters and digits (a kommunenummer)", quote(m))}
	}
	return nil
}

type stamdata3 struct{ cfg Stamdata3Config }

// The elements read; everything else (SocialSecurityNumber, Birthdate,
// addresses but the e-mail, salary) is skipped by the decoder.
type s3Export struct {
	XMLName       xml.Name         `xml:"ExportInfo"`
	Resources     []s3Resource     `xml:"Resources>Resource"`
	Organisations []s3Organisation `xml:"Organisations>Organisation"`
}

type s3Resource struct {
	ResourceID  string         `xml:"ResourceId"`
	FirstName   string         `xml:"FirstName"`
	Surname     string         `xml:"Surname"`
	Emails      []string       `xml:"Addresses>Address>EMailList>string"`
	Employments []s3Employment `xml:"Employments>Employment"`
}

type s3Employment struct {
	MainPosition        string       `xml:"MainPosition"`
	Percentage          string       `xml:"Percentage"`
	PostCodeDescription string       `xml:"PostCodeDescription"`
	SequenceNo          string       `xml:"SequenceNo"`
	DateFrom            string       `xml:"DateFrom"`
	DateTo              string       `xml:"DateTo"`
	Relations           []s3Relation `xml:"Relations>Relation"`
}

type s3Relation struct {
	ElementType string `xml:"ElementType,attr"`
	Value       string `xml:"Value"`
	DateFrom    string `xml:"DateFrom"`
	DateTo      string `xml:"DateTo"`
}

type s3Organisation struct {
	ID       string   `xml:"Id"`
	ParentID string   `xml:"ParentId"`
	Managers []string `xml:"Managers>string"`
}

func (s *stamdata3) Read(ctx context.Context, in Input) (Snapshot, error) {
	if in.File == nil {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "stamdata3: no file to read")
	}
	var x s3Export
	if err := xml.NewDecoder(in.File).Decode(&x); err != nil {
		return Snapshot{}, tilgang.Wrap(tilgang.Invalid, err, "stamdata3: read the file")
	}
	return decodeStamdata3(x, s.cfg.Municipality, in.today()), nil
}

func decodeStamdata3(x s3Export, municipality string, today tilgang.Date) Snapshot {
	pid := func(resource string) string {
		resource = strings.TrimSpace(resource)
		if resource == "" {
			return ""
		}
		return municipality + "-" + resource
	}
	c := collector{tree: OrgTree{}}
	for _, o := range x.Organisations {
		u := Unit{Parent: strings.TrimSpace(o.ParentID)}
		for _, m := range o.Managers {
			u.Leaders = append(u.Leaders, pid(m))
		}
		c.tree[strings.TrimSpace(o.ID)] = u
	}
	for i, r := range x.Resources {
		id := pid(r.ResourceID)
		if id == "" {
			c.reject("", "Resource %d has no ResourceId", i+1)
			continue
		}
		p := tilgang.Person{ID: id, GivenName: strings.TrimSpace(r.FirstName),
			FamilyName: strings.TrimSpace(r.Surname), Municipality: municipality, Employments: []tilgang.Employment{}}
		for _, e := range r.Emails {
			if e = strings.TrimSpace(e); e != "" {
				p.Email = e
				break
			}
		}
		var errs []string
		for j, e := range r.Employments {
			at := fmt.Sprintf("Employment %d", j+1)
			seq := strings.TrimSpace(e.SequenceNo)
			if seq == "" {
				seq = strconv.Itoa(j + 1)
			}
			emp := tilgang.Employment{ID: strings.TrimSpace(r.ResourceID) + "-" + seq,
				Position: strings.TrimSpace(e.PostCodeDescription)}
			var err error
			if emp.Primary, err = parseBool(e.MainPosition); err != nil {
				errs = append(errs, fmt.Sprintf("%s MainPosition: %v", at, err))
			}
			if emp.Percent, err = parsePercent(e.Percentage); err != nil {
				errs = append(errs, fmt.Sprintf("%s Percentage: %v", at, err))
			}
			if emp.Start, err = parseDate(e.DateFrom); err != nil {
				errs = append(errs, fmt.Sprintf("%s DateFrom: %v", at, err))
			}
			if emp.End, err = parseEnd(e.DateTo); err != nil {
				errs = append(errs, fmt.Sprintf("%s DateTo: %v", at, err))
			}
			emp.OrgUnit = s3Unit(e.Relations, today)
			p.Employments = append(p.Employments, emp)
		}
		if len(errs) > 0 {
			c.reject(id, "%s", strings.Join(errs, "; "))
			continue
		}
		c.people = append(c.people, p)
	}
	return c.finish()
}

// s3Unit is the ORGANIZATIONAL_UNIT relation valid today, else the one
// that starts latest.
func s3Unit(rs []s3Relation, today tilgang.Date) string {
	best, bestFrom := "", tilgang.Date{}
	for _, r := range rs {
		if r.ElementType != "ORGANIZATIONAL_UNIT" {
			continue
		}
		from, err1 := parseDate(r.DateFrom)
		to, err2 := parseEnd(r.DateTo)
		v := strings.TrimSpace(r.Value)
		if err1 == nil && err2 == nil && covers(from, to, today) {
			return v
		}
		if best == "" || bestFrom.Before(from) {
			best, bestFrom = v, from
		}
	}
	return best
}
