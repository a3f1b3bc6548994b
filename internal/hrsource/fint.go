package hrsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// FINTType is the type name of the FINT administrasjon/personal source.
const FINTType = "fint"

// FINTConfig reads FINT's administrasjon/personal and organisasjon
// collections. Example:
//
//	type: fint
//	base_url: https://api.felleskomponent.no          # or a test/beta host
//	auth: { type: bearer, token_env: TILGANG_FINT_TOKEN }
//	municipality: "1547"                              # person ids are 1547-{ansattnummer}
type FINTConfig struct {
	BaseURL      string        `yaml:"base_url"`
	Auth         httpconn.Auth `yaml:"auth"`
	Municipality string        `yaml:"municipality"`
}

// The collections read, below base_url.
const (
	fintPerson          = "/administrasjon/personal/person"
	fintPersonalressurs = "/administrasjon/personal/personalressurs"
	fintArbeidsforhold  = "/administrasjon/personal/arbeidsforhold"
	fintOrganisasjon    = "/administrasjon/organisasjon/organisasjonselement"
)

// String describes the config without its secrets.
func (c FINTConfig) String() string {
	return fmt.Sprintf("fint{base_url=%s credentials=(redacted)}", c.BaseURL)
}

// Validate reports every problem of the config at once.
func (c *FINTConfig) Validate() error {
	d := *c
	if d.Auth.Type == "" {
		d.Auth.Type = "bearer"
	}
	errs := baseURLProblems(d.BaseURL, false)
	errs = append(errs, d.Auth.Problems("bearer")...)
	errs = append(errs, municipalityProblems(d.Municipality, true)...)
	return problems(FINTType, errs)
}

// Open validates the config and reads the token.
func (c *FINTConfig) Open() (Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := *c
	if d.Auth.Type == "" {
		d.Auth.Type = "bearer"
	}
	auth, err := d.Auth.Header(FINTType)
	if err != nil {
		return nil, err
	}
	return &fint{cfg: d, auth: auth}, nil
}

type fint struct {
	cfg  FINTConfig
	auth string
}

type fintLinks map[string][]struct {
	Href string `json:"href"`
}

func (l fintLinks) first(rel string) string {
	for _, h := range l[rel] {
		if h.Href != "" {
			return normHref(h.Href)
		}
	}
	return ""
}

func (l fintLinks) all(rel string) []string {
	var out []string
	for _, h := range l[rel] {
		if h.Href != "" {
			out = append(out, normHref(h.Href))
		}
	}
	return out
}

// normHref is the path of an href, lowercased and without a trailing
// slash, so that links join whatever host they were written with.
func normHref(h string) string {
	if u, err := url.Parse(h); err == nil {
		h = u.Path
	}
	return strings.TrimRight(strings.ToLower(h), "/")
}

type fintID struct {
	Value string `json:"identifikatorverdi"`
}

type fintPeriod struct {
	Start string `json:"start"`
	Slutt string `json:"slutt"`
}

// The fields read: fodselsnummer, address, birth date and the rest are not
// decoded. A person's self link holds the fødselsnummer; it is used only
// to join the collections and never written anywhere.
type fintPersonEntry struct {
	Navn struct {
		Fornavn   string `json:"fornavn"`
		Etternavn string `json:"etternavn"`
	} `json:"navn"`
	Links fintLinks `json:"_links"`
}

type fintRessursEntry struct {
	Ansattnummer       fintID `json:"ansattnummer"`
	Kontaktinformasjon struct {
		Epostadresse string `json:"epostadresse"`
	} `json:"kontaktinformasjon"`
	Links fintLinks `json:"_links"`
}

type fintArbeidsforholdEntry struct {
	SystemID               fintID     `json:"systemId"`
	Stillingsnummer        string     `json:"stillingsnummer"`
	Stillingstittel        string     `json:"stillingstittel"`
	Hovedstilling          bool       `json:"hovedstilling"`
	Ansettelsesprosent     *int64     `json:"ansettelsesprosent"`
	Gyldighetsperiode      fintPeriod `json:"gyldighetsperiode"`
	Arbeidsforholdsperiode fintPeriod `json:"arbeidsforholdsperiode"`
	Links                  fintLinks  `json:"_links"`
}

type fintOrgEntry struct {
	OrganisasjonsID fintID    `json:"organisasjonsId"`
	Links           fintLinks `json:"_links"`
}

type fintCollection[T any] struct {
	Embedded struct {
		Entries []T `json:"_entries"`
	} `json:"_embedded"`
	TotalItems *int `json:"total_items"`
}

func fintFetch[T any](ctx context.Context, s *fint, in Input, base, path string) ([]T, error) {
	b, err := get(ctx, FINTType, in.Client, base, path, s.auth, "application/json")
	if err != nil {
		return nil, err
	}
	var c fintCollection[T]
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "%s: GET %s: decode", FINTType, path)
	}
	if c.TotalItems != nil && *c.TotalItems != len(c.Embedded.Entries) {
		return nil, tilgang.Errorf(tilgang.Unavailable, "%s: GET %s: the answer ended early: %d of total_items %d entries",
			FINTType, path, len(c.Embedded.Entries), *c.TotalItems)
	}
	return c.Embedded.Entries, nil
}

func (s *fint) Read(ctx context.Context, in Input) (Snapshot, error) {
	base, err := in.base(s.cfg.BaseURL)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", FINTType, err)
	}
	var f fintData
	if f.persons, err = fintFetch[fintPersonEntry](ctx, s, in, base, fintPerson); err != nil {
		return Snapshot{}, err
	}
	if f.ressurser, err = fintFetch[fintRessursEntry](ctx, s, in, base, fintPersonalressurs); err != nil {
		return Snapshot{}, err
	}
	if f.arbeidsforhold, err = fintFetch[fintArbeidsforholdEntry](ctx, s, in, base, fintArbeidsforhold); err != nil {
		return Snapshot{}, err
	}
	if f.orgs, err = fintFetch[fintOrgEntry](ctx, s, in, base, fintOrganisasjon); err != nil {
		return Snapshot{}, err
	}
	return decodeFINT(f, s.cfg.Municipality, in.today()), nil
}

type fintData struct {
	persons        []fintPersonEntry
	ressurser      []fintRessursEntry
	arbeidsforhold []fintArbeidsforholdEntry
	orgs           []fintOrgEntry
}

func decodeFINT(f fintData, municipality string, today tilgang.Date) Snapshot {
	personByHref := map[string]*fintPersonEntry{}
	for i := range f.persons {
		for _, h := range f.persons[i].Links.all("self") {
			personByHref[h] = &f.persons[i]
		}
	}
	// personalressurs href -> person id
	pidByHref := map[string]string{}
	for _, r := range f.ressurser {
		if n := strings.TrimSpace(r.Ansattnummer.Value); n != "" {
			for _, h := range r.Links.all("self") {
				pidByHref[h] = municipality + "-" + n
			}
		}
	}
	resolve := func(href string) string {
		if href == "" {
			return ""
		}
		if id, ok := pidByHref[href]; ok {
			return id
		}
		if i := strings.LastIndex(href, "/ansattnummer/"); i >= 0 {
			return municipality + "-" + href[i+len("/ansattnummer/"):]
		}
		return ""
	}
	orgByHref := map[string]string{}
	for _, o := range f.orgs {
		for _, h := range o.Links.all("self") {
			orgByHref[h] = strings.TrimSpace(o.OrganisasjonsID.Value)
		}
	}
	c := collector{tree: OrgTree{}}
	for _, o := range f.orgs {
		u := Unit{Parent: orgByHref[o.Links.first("overordnet")]}
		for _, h := range o.Links.all("leder") {
			if l := resolve(h); l != "" {
				u.Leaders = append(u.Leaders, l)
			}
		}
		c.tree[strings.TrimSpace(o.OrganisasjonsID.Value)] = u
	}
	type acc struct {
		versions []version
		errs     []string
	}
	byPerson := map[string]*acc{}
	for i, a := range f.arbeidsforhold {
		pid := resolve(a.Links.first("personalressurs"))
		if pid == "" {
			continue // not of a personalressurs of this snapshot
		}
		x := byPerson[pid]
		if x == nil {
			x = &acc{}
			byPerson[pid] = x
		}
		at := fmt.Sprintf("arbeidsforhold %d", i+1)
		id := strings.TrimSpace(a.Stillingsnummer)
		if id == "" {
			id = strings.TrimSpace(a.SystemID.Value)
		}
		e := tilgang.Employment{ID: id, Primary: a.Hovedstilling, Position: strings.TrimSpace(a.Stillingstittel),
			OrgUnit: orgByHref[a.Links.first("arbeidssted")], Manager: resolve(a.Links.first("personalleder"))}
		if a.Ansettelsesprosent == nil {
			x.errs = append(x.errs, at+" has no ansettelsesprosent")
		} else {
			e.Percent = float64(*a.Ansettelsesprosent) / 100
		}
		var err error
		if e.Start, err = parseDate(a.Arbeidsforholdsperiode.Start); err != nil {
			x.errs = append(x.errs, fmt.Sprintf("%s arbeidsforholdsperiode.start: %v", at, err))
		}
		if e.End, err = parseEnd(a.Arbeidsforholdsperiode.Slutt); err != nil {
			x.errs = append(x.errs, fmt.Sprintf("%s arbeidsforholdsperiode.slutt: %v", at, err))
		}
		from, err := parseDate(a.Gyldighetsperiode.Start)
		if err != nil {
			x.errs = append(x.errs, fmt.Sprintf("%s gyldighetsperiode.start: %v", at, err))
		}
		x.versions = append(x.versions, version{e: e, from: from})
	}
	for i, r := range f.ressurser {
		n := strings.TrimSpace(r.Ansattnummer.Value)
		if n == "" {
			c.reject("", "personalressurs %d has no ansattnummer", i+1)
			continue
		}
		id := municipality + "-" + n
		p := tilgang.Person{ID: id, Municipality: municipality, Email: strings.TrimSpace(r.Kontaktinformasjon.Epostadresse),
			Employments: []tilgang.Employment{}}
		if per := personByHref[r.Links.first("person")]; per != nil {
			p.GivenName = strings.TrimSpace(per.Navn.Fornavn)
			p.FamilyName = strings.TrimSpace(per.Navn.Etternavn)
		}
		if x := byPerson[id]; x != nil {
			if len(x.errs) > 0 {
				c.reject(id, "%s", strings.Join(x.errs, "; "))
				continue
			}
			p.Employments = current(x.versions, today)
		}
		c.people = append(c.people, p)
	}
	return c.finish()
}
