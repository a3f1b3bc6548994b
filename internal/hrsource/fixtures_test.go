package hrsource

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fixtures: one model of a small municipality, rendered in each
// source's own shape (element names of the real exports), so every reader
// runs the same scenarios.

const muni = "1547"

type fxEmp struct {
	Seq     string
	Unit    string
	Pos     string
	Pct     float64
	Primary bool
	Start   string
	End     string // "" open
}

type fxPerson struct {
	No, Given, Family, Email, SSN string
	Emps                          []fxEmp
}

type fxUnit struct{ ID, Parent, Leader string }

// units: 100 kommune (led by 10001) > 110 oppvekst (no leader) > 111 skule
// (led by 10002); 120 helse (led by 10007).
var fxUnits = []fxUnit{{"100", "", "10001"}, {"110", "100", ""}, {"111", "110", "10002"}, {"120", "100", "10007"}}

func ssnOf(no string) string { return "0101" + no + "7" } // 11 digits, no real number

func fxPeople() []fxPerson {
	p := func(no, given, family string, emps ...fxEmp) fxPerson {
		return fxPerson{No: no, Given: given, Family: family, Email: "p" + no + "@aukra.kommune.no", SSN: ssnOf(no), Emps: emps}
	}
	return []fxPerson{
		p("10001", "Rita", "Rådmann", fxEmp{"1", "100", "kommunedirektør", 100, true, "2015-01-01", ""}),
		p("10002", "Rolf", "Rektor", fxEmp{"1", "111", "rektor", 100, true, "2018-08-01", ""}),
		p("10003", "Åse", "Øvergård-Bø", fxEmp{"1", "111", "lærer", 80, true, "2024-08-01", ""}),
		p("10004", "Tor", "Todelt",
			fxEmp{"1", "111", "assistent", 50, true, "2024-01-01", ""},
			fxEmp{"2", "120", "helsefagarbeider", 50, true, "2023-01-01", "2026-12-31"}),
		p("10005", "Siri", "Sekretær", fxEmp{"1", "110", "konsulent", 100, true, "2020-03-01", ""}),
		p("10006", "Vera", "Vikar", fxEmp{"1", "120", "tilkallingsvikar", 0, true, "2022-05-01", ""}),
		p("10007", "Hege", "Helseleder", fxEmp{"1", "120", "enhetsleder", 100, true, "2016-01-01", ""}),
	}
}

// fxSecond is fxPeople with 10003 moved to helse, 10005's family name
// changed and 10006 gone.
func fxSecond() []fxPerson {
	var out []fxPerson
	for _, p := range fxPeople() {
		switch p.No {
		case "10003":
			p.Emps[0].Unit = "120"
		case "10005":
			p.Family = "Nygift"
		case "10006":
			continue
		}
		out = append(out, p)
	}
	return out
}

func leaderOf(unit string) string {
	for _, u := range fxUnits {
		if u.ID == unit {
			return u.Leader
		}
	}
	return ""
}

func x(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func endOr(s, open string) string {
	if s == "" {
		return open
	}
	return s
}

// renderStamdata3 writes the model as a Stamdata3 export, with the
// elements a real one carries besides (address, birth date, fødselsnummer).
func renderStamdata3(people []fxPerson, units []fxUnit) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ExportInfo>\n  <Resources>\n")
	for _, p := range people {
		b.WriteString("    <Resource>\n      <Addresses><Address><AddressId>1</AddressId><Type>1</Type><Street>Heimvegen 1</Street>" +
			"<Place>AUKRA</Place><ZipCode>6480</ZipCode><EMailList><string/><string>" + x(p.Email) + "</string></EMailList>" +
			"<EMailCopyList><string/></EMailCopyList></Address></Addresses>\n      <Employments>\n")
		for _, e := range p.Emps {
			fmt.Fprintf(&b, `        <Employment ResourceId="%s">
          <EmploymentType>F</EmploymentType><EmploymentTypeDescription>Fast</EmploymentTypeDescription>
          <MainPosition>%t</MainPosition><Percentage>%s</Percentage>
          <PostId>4001</PostId><PostCode>655902</PostCode><PostCodeDescription>%s</PostCodeDescription>
          <Relations>
            <Relation Type="O8" Name="Funksjon" ElementType="FUNCTION"><Value>120</Value><Description>Administrasjon</Description><DateFrom>2020-01-01</DateFrom><DateTo>2099-12-31</DateTo></Relation>
            <Relation Type="MNAL" Name="Organisasjonsenhet" ElementType="ORGANIZATIONAL_UNIT"><Value>999</Value><Description>Gammel</Description><DateFrom>2001-01-01</DateFrom><DateTo>2009-12-31</DateTo></Relation>
            <Relation Type="MNAL" Name="Organisasjonsenhet" ElementType="ORGANIZATIONAL_UNIT"><Value>%s</Value><Description>Enhet</Description><DateFrom>2010-01-01</DateFrom><DateTo>2099-12-31</DateTo></Relation>
          </Relations>
          <DateFrom>%s</DateFrom><DateTo>%s</DateTo>
          <SequenceRef>349750</SequenceRef><SequenceNo>%s</SequenceNo>
        </Employment>
`, p.No, e.Primary, strings.Replace(strconv.FormatFloat(e.Pct, 'f', 2, 64), ".", ",", 1), x(e.Pos), e.Unit, e.Start, endOr(e.End, "2099-12-31"), e.Seq)
		}
		fmt.Fprintf(&b, `      </Employments>
      <CompanyCode>AK</CompanyCode><ResourceId>%s</ResourceId><DateFrom>2009-07-01</DateFrom><DateTo>2099-12-31</DateTo>
      <FirstName>%s</FirstName><Surname>%s</Surname><Name>%s, %s</Name><ShortName>X</ShortName>
      <Birthdate>1990-01-01</Birthdate><SocialSecurityNumber>%s</SocialSecurityNumber><Sex>K</Sex><Municipal>1547</Municipal><Status>N</Status>
    </Resource>
`, p.No, x(p.Given), x(p.Family), x(p.Family), x(p.Given), p.SSN)
	}
	b.WriteString("  </Resources>\n  <Organisations>\n")
	for _, u := range units {
		fmt.Fprintf(&b, "    <Organisation><CompanyCode>AK</CompanyCode><Name>Enhet %s</Name><Id>%s</Id><ParentId>%s</ParentId><Managers>", u.ID, u.ID, u.Parent)
		if u.Leader != "" {
			fmt.Fprintf(&b, "<string>%s</string>", u.Leader)
		}
		b.WriteString("</Managers><DateFrom>0001-01-01T00:00:00</DateFrom><DateTo>9999-12-31T23:59:59.9999999</DateTo><Status>N</Status></Organisation>\n")
	}
	b.WriteString("  </Organisations>\n</ExportInfo>\n")
	return b.String()
}

// renderVismaPersons writes people as a personsXML answer.
func renderVismaPersons(people []fxPerson) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<personsXML>\n")
	for _, p := range people {
		fmt.Fprintf(&b, `  <person personIdHRM="%s">
    <givenName>%s</givenName><familyName>%s</familyName><ssn>%s</ssn><dateOfBirth>1990-01-01</dateOfBirth><genderCode>F</genderCode>
    <contactInfo><email>%s</email><privateEmail>privat@example.org</privateEmail><mobilePhone>+4790000000</mobilePhone></contactInfo>
    <authentication><userId>u%s</userId><alias>a%s</alias></authentication>
    <employments><employment><employeeId>%s</employeeId><startDate>%s</startDate><endDate></endDate>
      <company><companyId>1</companyId><companyName>Aukra kommune</companyName></company>
      <positions>
`, p.No, x(p.Given), x(p.Family), p.SSN, x(p.Email), p.No, p.No, p.No, p.Emps[0].Start)
		for _, e := range p.Emps {
			manager := ""
			if l := leaderOf(e.Unit); l != "" {
				manager = fmt.Sprintf(`<manager id="%s"/>`, l)
			}
			fmt.Fprintf(&b, `        <position isPrimaryPosition="%t" validFromDate="%s">
          <positionPercentage>%s</positionPercentage><positionStartDate>%s</positionStartDate><positionEndDate>%s</positionEndDate>
          <positionInfo><positionCode positionCode="7001" positionId="%s" name="%s" tableNr="1"/><positionType name="Fast" value="F"/></positionInfo>
          <chart><unit id="%s" name="Enhet %s">%s</unit></chart>
          <positionStatistics><workClassification name="Arbeidsklasse"/><businessNumber name="Aukra" value="1"/></positionStatistics>
        </position>
`, e.Primary, e.Start, strconv.FormatFloat(e.Pct, 'f', 1, 64), e.Start, e.End, e.Seq, x(e.Pos), e.Unit, e.Unit, manager)
		}
		b.WriteString("      </positions></employment></employments>\n  </person>\n")
	}
	b.WriteString("</personsXML>\n")
	return b.String()
}

func renderVismaChart(units []fxUnit) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<charts><chart name=\"Aukra\"><units>\n")
	for _, u := range units {
		fmt.Fprintf(&b, `  <unit id="%s" parentid="%s" name="Enhet %s">`, u.ID, u.Parent, u.ID)
		if u.Leader != "" {
			fmt.Fprintf(&b, `<manager id="%s"/>`, u.Leader)
		}
		b.WriteString("</unit>\n")
	}
	b.WriteString("</units></chart></charts>\n")
	return b.String()
}

// vismaServer serves the model the way the HRM web service does: pages of
// persons by personIdHRM range, future starters, the org chart. fail names
// a path prefix to answer with HTTP 500, cut one to answer with half its
// body.
type vismaServer struct {
	people, future []fxPerson
	units          []fxUnit
	fail, cut      string
	pages          atomic.Int32
	user, pass     string
}

func (s *vismaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return
	}
	path := r.URL.Path
	var body string
	switch {
	case strings.HasPrefix(path, "/hrm_ws/secure/organization/chart/"):
		body = renderVismaChart(s.units)
	case strings.Contains(path, "/not-started/date-interval/"):
		body = renderVismaPersons(s.future)
	case strings.HasPrefix(path, "/hrm_ws/secure/persons/company/1/start-id/"):
		s.pages.Add(1)
		var a, b int
		if _, err := fmt.Sscanf(strings.TrimPrefix(path, "/hrm_ws/secure/persons/company/1/"), "start-id/%d/end-id/%d", &a, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var page []fxPerson
		for _, p := range s.people {
			if n, _ := strconv.Atoi(p.No); n >= a && n <= b {
				page = append(page, p)
			}
		}
		body = renderVismaPersons(page)
	default:
		http.NotFound(w, r)
		return
	}
	if s.fail != "" && strings.HasPrefix(path, s.fail) {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if s.cut != "" && strings.HasPrefix(path, s.cut) {
		body = body[:len(body)/2]
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(body))
}

// fintServer serves the model as FINT's collections with HAL links.
type fintServer struct {
	people []fxPerson
	units  []fxUnit
	fail   string
	short  string // a collection whose total_items is more than it holds
	token  string
	base   string
	// edit, when set, changes the entries of a collection before they are
	// served.
	edit func(path string, entries []map[string]any) []map[string]any
}

func (s *fintServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return
	}
	link := func(path string) []map[string]string { return []map[string]string{{"href": s.base + path}} }
	var entries []map[string]any
	switch r.URL.Path {
	case fintPerson:
		for _, p := range s.people {
			entries = append(entries, map[string]any{
				"navn":          map[string]string{"fornavn": p.Given, "mellomnavn": "", "etternavn": p.Family},
				"fodselsnummer": map[string]string{"identifikatorverdi": p.SSN},
				"fodselsdato":   "1990-01-01T00:00:00Z",
				"_links": map[string]any{
					"self":            link(fintPerson + "/fodselsnummer/" + p.SSN),
					"personalressurs": link(fintPersonalressurs + "/ansattnummer/" + p.No),
				}})
		}
	case fintPersonalressurs:
		for _, p := range s.people {
			entries = append(entries, map[string]any{
				"ansattnummer":       map[string]string{"identifikatorverdi": p.No},
				"systemId":           map[string]string{"identifikatorverdi": "sys" + p.No},
				"brukernavn":         map[string]string{"identifikatorverdi": "u" + p.No},
				"ansettelsesperiode": map[string]any{"start": p.Emps[0].Start + "T12:00:00Z", "slutt": nil},
				"kontaktinformasjon": map[string]string{"epostadresse": p.Email},
				"_links": map[string]any{
					"self":   append(link(fintPersonalressurs+"/ansattnummer/"+p.No), link(fintPersonalressurs+"/systemid/sys"+p.No)...),
					"person": link(fintPerson + "/fodselsnummer/" + p.SSN),
				}})
		}
	case fintArbeidsforhold:
		for _, p := range s.people {
			for _, e := range p.Emps {
				var slutt any
				if e.End != "" {
					slutt = e.End + "T12:00:00Z"
				}
				links := map[string]any{
					"self":            link(fintArbeidsforhold + "/systemid/af" + p.No + e.Seq),
					"personalressurs": link(fintPersonalressurs + "/systemid/sys" + p.No),
					"arbeidssted":     link(fintOrganisasjon + "/organisasjonsid/" + e.Unit),
				}
				entries = append(entries, map[string]any{
					"systemId":               map[string]string{"identifikatorverdi": "af" + p.No + e.Seq},
					"stillingsnummer":        p.No + "-" + e.Seq,
					"stillingstittel":        e.Pos,
					"hovedstilling":          e.Primary,
					"ansettelsesprosent":     int(e.Pct * 100),
					"lonnsprosent":           int(e.Pct * 100),
					"gyldighetsperiode":      map[string]any{"start": "2000-01-01T12:00:00Z", "slutt": nil},
					"arbeidsforholdsperiode": map[string]any{"start": e.Start + "T12:00:00Z", "slutt": slutt},
					"_links":                 links,
				})
			}
		}
	case fintOrganisasjon:
		for _, u := range s.units {
			links := map[string]any{"self": link(fintOrganisasjon + "/organisasjonsid/" + u.ID)}
			if u.Parent != "" {
				links["overordnet"] = link(fintOrganisasjon + "/organisasjonsid/" + u.Parent)
			} else {
				links["overordnet"] = link(fintOrganisasjon + "/organisasjonsid/" + u.ID)
			}
			if u.Leader != "" {
				links["leder"] = link(fintPersonalressurs + "/systemid/sys" + u.Leader)
			}
			entries = append(entries, map[string]any{
				"organisasjonsId":   map[string]string{"identifikatorverdi": u.ID},
				"organisasjonsKode": map[string]string{"identifikatorverdi": "K" + u.ID},
				"navn":              "Enhet " + u.ID, "_links": links})
		}
	default:
		http.NotFound(w, r)
		return
	}
	if s.fail == r.URL.Path {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if s.edit != nil {
		entries = s.edit(r.URL.Path, entries)
	}
	total := len(entries)
	if s.short == r.URL.Path {
		total++
	}
	if entries == nil {
		entries = []map[string]any{}
	}
	w.Header().Set("Content-Type", "application/hal+json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"_embedded":   map[string]any{"_entries": entries},
		"_links":      map[string]any{"self": link(r.URL.Path)},
		"total_items": total, "size": total, "offset": 0,
	})
}

// renderJSON writes the model as the HR record array; the manager is the
// unit's leader, as a source naming managers directly would give it.
func renderJSON(people []fxPerson) string {
	var recs []map[string]any
	for _, p := range people {
		var emps []map[string]any
		for _, e := range p.Emps {
			m := map[string]any{"id": p.No + "-" + e.Seq, "primary": e.Primary, "percent": e.Pct,
				"org_unit": e.Unit, "position": e.Pos, "start": e.Start, "end": nil}
			if e.End != "" {
				m["end"] = e.End
			}
			if l := leaderOf(e.Unit); l != "" {
				m["manager"] = muni + "-" + l
			}
			emps = append(emps, m)
		}
		recs = append(recs, map[string]any{"id": muni + "-" + p.No, "given_name": p.Given, "family_name": p.Family,
			"email": p.Email, "municipality": muni, "employments": emps})
	}
	if recs == nil {
		recs = []map[string]any{}
	}
	b, _ := json.MarshalIndent(recs, "", " ")
	return string(b)
}

// renderCSV writes the model as a Norwegian export: ";", a byte order
// mark, dd.mm.yyyy, a fødselsnummer column that is not mapped, rows of one
// person not adjacent.
func renderCSV(people []fxPerson) string {
	var rows []string
	for _, p := range people {
		for _, e := range p.Emps {
			manager := ""
			if l := leaderOf(e.Unit); l != "" {
				manager = muni + "-" + l
			}
			yn := map[bool]string{true: "Ja", false: "Nei"}[e.Primary]
			rows = append(rows, strings.Join([]string{muni + "-" + p.No, p.SSN, p.Given, p.Family, p.Email, muni,
				p.No + "-" + e.Seq, e.Unit, e.Pos, strings.Replace(strconv.FormatFloat(e.Pct, 'f', -1, 64), ".", ",", 1),
				yn, manager, norDate(e.Start), norDate(e.End)}, ";"))
		}
	}
	// the second employment of 10004 goes last
	for i, r := range rows {
		if strings.Contains(r, ";10004-2;") {
			rows = append(append(rows[:i:i], rows[i+1:]...), r)
			break
		}
	}
	return "\uFEFFAnsattnr;Fødselsnummer;Fornavn;Etternavn;Epost;Kommunenr;Stillingsnr;Enhet;Stilling;Prosent;Hovedstilling;Leder;Fra;Til\r\n" +
		strings.Join(rows, "\r\n") + "\r\n"
}

func norDate(s string) string {
	if s == "" {
		return ""
	}
	return s[8:10] + "." + s[5:7] + "." + s[0:4]
}

func fxCSVConfig() CSVConfig {
	return CSVConfig{Delimiter: ";", DateFormat: "02.01.2006", Columns: CSVColumns{
		ID: "Ansattnr", GivenName: "Fornavn", FamilyName: "Etternavn", Email: "Epost", Municipality: "Kommunenr",
		EmploymentID: "Stillingsnr", OrgUnit: "Enhet", Position: "Stilling", Percent: "Prosent", Primary: "Hovedstilling",
		Manager: "Leder", Start: "Fra", End: "Til"}}
}

func mustOpen(t *testing.T, c Config) Source {
	t.Helper()
	s, err := c.Open()
	require.NoError(t, err)
	return s
}
