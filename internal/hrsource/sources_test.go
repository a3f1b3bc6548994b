package hrsource

import (
	"context"
	"strings"
	"testing"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
	"github.com/stretchr/testify/require"
)

func TestJSONStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, err string
	}{
		{"unknown field of a record", `[{"id":"1547-1","given_name":"A","family_name":"B","municipality":"1547","employments":[]},
			{"id":"1547-2","fodselsnummer":"01019012345","given_name":"A","family_name":"B","municipality":"1547","employments":[]}]`,
			`json: record 1: unknown field "fodselsnummer"`},
		{"unknown field of an employment", `[{"id":"1547-1","given_name":"A","family_name":"B","municipality":"1547",
			"employments":[{"id":"e","start":"2020-01-01","end":null},{"id":"f","start":"2020-01-01","end":null,"salary":1}]}]`,
			`json: record 0: unknown field employments[1]."salary"`},
		{"not an array", `{"id":"x"}`, "json: read the record array"},
		{"null", `null`, "not an array"},
		{"two documents", `[] []`, "data after the array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFile(t, &JSONConfig{}, tt.body)
			require.ErrorContains(t, err, tt.err)
			require.NotContains(t, err.Error(), "01019012345")
		})
	}
}

func TestInvalidRecordsAreRejected(t *testing.T) {
	t.Parallel()
	t.Run("json", func(t *testing.T) {
		snap, err := readFile(t, &JSONConfig{}, `[
			{"id":"1547-1","given_name":"A","family_name":"B","municipality":"1547","employments":[{"id":"e","start":"1. mai","end":null}]},
			{"id":"1547-2","given_name":"","family_name":"B","municipality":"1547","employments":[]},
			{"id":"1547-3","given_name":"A","family_name":"B","municipality":"1547","employments":[{"id":"e","percent":"full","start":"2020-01-01"}]},
			{"id":"1547-4","given_name":"A","family_name":"B","municipality":"1547","employments":[{"id":"e","start":"2020-01-01","end":null}]},
			{"id":"1547-4","given_name":"A","family_name":"C","municipality":"1547","employments":[]},
			{"id":"1547-5","given_name":"A","family_name":"B","municipality":"1547","employments":[{"id":"e","percent":150,"start":"2020-01-01"}]},
			{"id":"1547-6","given_name":"A","family_name":"B","municipality":"1547"}]`)
		require.NoError(t, err)
		require.Equal(t, []string{"1547-6"}, sortedIDs(snap.People))
		require.Equal(t, []tilgang.Employment{}, snap.People[0].Employments)
		reasons := map[string]string{}
		for _, r := range snap.Rejected {
			reasons[r.PersonID] = r.Reason
		}
		require.Contains(t, reasons["1547-1"], `record 0: date "1. mai" is not YYYY-MM-DD`)
		require.Contains(t, reasons["1547-2"], "person.given_name is empty")
		require.Contains(t, reasons["1547-3"], "record 2: field employments.percent must be float64, not string")
		require.Contains(t, reasons["1547-4"], "the person id appears 2 times in the snapshot")
		require.Contains(t, reasons["1547-5"], "percent 150 is outside 0..100")
		require.Len(t, snap.Rejected, 5)
	})
	t.Run("stamdata3", func(t *testing.T) {
		people := fxPeople()[:3]
		people[0].Family = ""
		people[1].Emps[0].Start = "2020-13-01"
		snap, err := readFile(t, &Stamdata3Config{Municipality: muni}, renderStamdata3(people, fxUnits))
		require.NoError(t, err)
		require.Equal(t, []string{muni + "-10003"}, sortedIDs(snap.People))
		require.Equal(t, []Rejection{
			{PersonID: muni + "-10002", Reason: `Employment 1 DateFrom: date "2020-13-01" is not YYYY-MM-DD`},
			{PersonID: muni + "-10001", Reason: "person.family_name is empty"},
		}, snap.Rejected)
	})
	t.Run("csv", func(t *testing.T) {
		body := "id,given,family,emp,start,end,percent\n" +
			"1,A,B,1-1,2020-01-01,,50\n" +
			",A,B,x-1,2020-01-01,,50\n" +
			"2,A,B,2-1,2020-01-01,,50\n" +
			"1,A,C,1-2,2020-01-01,,50\n" +
			"3,A,B,3-1,01.01.2020,,50\n" +
			"4,A,B,4-1,2020-01-01,,halv\n" +
			"5,A,B,5-1,2020-01-01,2019-01-01,50\n"
		cfg := CSVConfig{Municipality: muni, Columns: CSVColumns{ID: "id", GivenName: "given", FamilyName: "family",
			EmploymentID: "emp", Start: "start", End: "end", Percent: "percent"}}
		snap, err := readFile(t, &cfg, body)
		require.NoError(t, err)
		require.Equal(t, []string{"2"}, sortedIDs(snap.People))
		require.Equal(t, []Rejection{
			{Reason: `row 3: "id" is empty`},
			{PersonID: "1", Reason: "rows 2 and 5 disagree on family_name"},
			{PersonID: "3", Reason: `row 6: start: "01.01.2020" is not a date of the form 2006-01-02`},
			{PersonID: "4", Reason: `row 7: percent "halv" is not a number`},
			{PersonID: "5", Reason: "person.employments[0].end 2019-01-01 is before start 2020-01-01"},
		}, snap.Rejected)
	})
}

func TestCSVHeaderAndEncoding(t *testing.T) {
	t.Parallel()
	cfg := CSVConfig{Municipality: muni, Columns: CSVColumns{ID: "id", GivenName: "given", FamilyName: "family",
		EmploymentID: "emp", Start: "start", Manager: "leder"}}
	_, err := readFile(t, &cfg, "id,given,family,emp,start\n1,A,B,1-1,2020-01-01\n")
	require.EqualError(t, err, `csv: the header lacks columns.manager "leder"`)

	snap, err := readFile(t, &cfg, "\uFEFFid,given,family,emp,start,leder\n1,Ærlig,Ødegård,1-1,2020-01-01,1\n")
	require.NoError(t, err)
	require.Equal(t, "Ærlig", snap.People[0].GivenName)
	require.Empty(t, snap.People[0].Employments[0].Manager, "the manager named is the person")
	require.Equal(t, muni, snap.People[0].Municipality)

	_, err = readFile(t, &cfg, "id,given,family,emp,start,leder\n1,\"A,B,1-1,2020-01-01,1\n")
	require.ErrorContains(t, err, "csv: read the rows")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		errs []string
	}{
		{"stamdata3 ok", &Stamdata3Config{Municipality: "1547"}, nil},
		{"stamdata3", &Stamdata3Config{}, []string{"municipality is empty"}},
		{"csv", &CSVConfig{Delimiter: ";;", DateFormat: "2006", Municipality: "15 47",
			Columns: CSVColumns{ID: "a", GivenName: "a", Start: "s"}},
			[]string{`delimiter ";;" must be one character`, `date_format "2006" is not a Go layout`,
				"columns.family_name is empty", "columns.employment_id is empty",
				`columns.id and columns.given_name name the same column "a"`, `municipality "15 47" must be`}},
		{"csv without municipality", &CSVConfig{Columns: CSVColumns{ID: "a", GivenName: "b", FamilyName: "c",
			EmploymentID: "d", Start: "e"}}, []string{"set municipality or columns.municipality"}},
		{"visma", &VismaConfig{BaseURL: "http://hrm.example.no", Company: "", IDStart: 10, IDEnd: 5, PageSize: -1,
			DaysFuture: -2, Auth: httpconn.Auth{Type: "bearer"}},
			[]string{"plain http is allowed only to a loopback address", `auth.type "bearer" must be basic`,
				`company "" must be`, "municipality is empty", "id_end 5 must be at least id_start 10",
				"page_size -1 must be positive", "days_future -2 must be -1"}},
		{"fint", &FINTConfig{BaseURL: "ftp://x", Auth: httpconn.Auth{Type: "bearer"}},
			[]string{`base_url "ftp://x" must be an https:// URL`, "auth: set token_env or token_file", "municipality is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.errs == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
			for _, e := range tt.errs {
				require.Contains(t, err.Error(), e)
			}
			_, err = tt.cfg.Open()
			require.Error(t, err, "Open refuses what Validate refuses")
		})
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"stamdata3", "visma-hrm", "fint", "json", "csv"} {
		c, err := Types.New(typ)
		require.NoError(t, err, typ)
		require.NotNil(t, c)
	}
	_, err := Types.New("sap")
	require.EqualError(t, err, `hrsource: unknown source type "sap" (known: csv, fint, json, stamdata3, visma-hrm)`)
}

func TestReadWithoutInput(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{&Stamdata3Config{Municipality: muni}, &JSONConfig{}, func() Config { c := fxCSVConfig(); return &c }()} {
		_, err := mustOpen(t, c).Read(context.Background(), Input{})
		require.ErrorContains(t, err, "no file to read")
	}
	var auth httpconn.Auth
	auth.Type, auth.TokenFile = "bearer", secretFile(t, "tok")
	src := mustOpen(t, &FINTConfig{Municipality: muni, Auth: auth})
	_, err := src.Read(context.Background(), Input{})
	require.ErrorContains(t, err, "base_url is empty")
	_, err = src.Read(context.Background(), Input{BaseURL: "http://hr.example.no"})
	require.True(t, strings.Contains(err.Error(), "plain http is allowed only to a loopback address"), err.Error())
}

func TestFødselsnummerShapedIDsAreRejectedWithoutRepeatingThem(t *testing.T) {
	t.Parallel()
	cfg := CSVConfig{Municipality: muni, Columns: CSVColumns{ID: "id", GivenName: "given", FamilyName: "family",
		EmploymentID: "emp", Start: "start", Manager: "leder"}}
	body := "id,given,family,emp,start,leder\n" +
		"01019012345,A,B,1,2020-01-01,\n" +
		"01019012345,A,B,2,2020-01-01,\n" +
		"1547-2,A,B,01019054321,2020-01-01,\n" +
		"1547-3,A,B,3-1,2020-01-01,1547-01019099999\n" +
		"1547-4,A,B,4-1,2020-01-01,1547-123456789012\n"
	snap, err := readFile(t, &cfg, body)
	require.NoError(t, err)
	require.Equal(t, []string{"1547-4"}, sortedIDs(snap.People), "12 digits are not a fødselsnummer")
	require.Equal(t, []Rejection{
		{Reason: "person.id holds 11 digits in a row, the shape of a fødselsnummer, which is never an identifier"},
		{PersonID: "1547-2", Reason: "person.employments[0].id holds 11 digits in a row, the shape of a fødselsnummer, which is never an identifier"},
		{PersonID: "1547-3", Reason: "person.employments[0].manager holds 11 digits in a row, the shape of a fødselsnummer, which is never an identifier"},
	}, snap.Rejected)
}

func TestFINTPersonalleder(t *testing.T) {
	t.Parallel()
	mk := func(rel ...string) fintLinks {
		l := fintLinks{}
		for i := 0; i+1 < len(rel); i += 2 {
			l[rel[i]] = append(l[rel[i]], struct {
				Href string `json:"href"`
			}{Href: rel[i+1]})
		}
		return l
	}
	const pr = "https://api.example.no/administrasjon/personal/personalressurs/ansattnummer/"
	const org = "https://api.example.no/administrasjon/organisasjon/organisasjonselement/organisasjonsid/"
	pct := int64(10000)
	af := func(no, leder string) fintArbeidsforholdEntry {
		a := fintArbeidsforholdEntry{Stillingsnummer: no + "-1", Ansettelsesprosent: &pct, Hovedstilling: true,
			Arbeidsforholdsperiode: fintPeriod{Start: "2020-01-01T12:00:00Z"}}
		a.Links = mk("personalressurs", pr+no, "arbeidssted", org+"2", "personalleder", leder)
		return a
	}
	f := fintData{
		persons: []fintPersonEntry{},
		ressurser: []fintRessursEntry{
			{Ansattnummer: fintID{"1"}, Links: mk("self", pr+"1")},
			{Ansattnummer: fintID{"2"}, Links: mk("self", pr+"2")},
			{Ansattnummer: fintID{"3"}, Links: mk("self", pr+"3")},
		},
		arbeidsforhold: []fintArbeidsforholdEntry{af("2", pr+"3"), af("3", pr+"3")},
		orgs: []fintOrgEntry{
			{OrganisasjonsID: fintID{"1"}, Links: mk("self", org+"1", "overordnet", org+"1", "leder", pr+"1")},
			{OrganisasjonsID: fintID{"2"}, Links: mk("self", org+"2", "overordnet", org+"1", "leder", pr+"3")},
		},
	}
	for i := range f.ressurser {
		f.persons = append(f.persons, fintPersonEntry{Links: mk("self", "https://api.example.no/p/"+f.ressurser[i].Ansattnummer.Value)})
		f.persons[i].Navn.Fornavn, f.persons[i].Navn.Etternavn = "A", "B"
		f.ressurser[i].Links["person"] = f.persons[i].Links["self"]
	}
	snap := decodeFINT(f, muni, today)
	require.Empty(t, snap.Rejected)
	p := byID(snap)
	require.Equal(t, muni+"-3", p[muni+"-2"].Employments[0].Manager, "personalleder named directly")
	require.Equal(t, muni+"-1", p[muni+"-3"].Employments[0].Manager, "personalleder is the person: walk up from the unit")
	require.Equal(t, "2", p[muni+"-3"].Employments[0].OrgUnit)
	require.Equal(t, float64(100), p[muni+"-3"].Employments[0].Percent)
	require.Empty(t, p[muni+"-1"].Employments)
}
