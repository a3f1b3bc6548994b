package hrsource

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkSnapshot holds for every snapshot a reader returns: valid records,
// sorted, each id once, neither kept nor rejected twice.
func checkSnapshot(t *testing.T, snap Snapshot) {
	t.Helper()
	seen := map[string]bool{}
	for i, p := range snap.People {
		require.NoError(t, p.Validate())
		require.NotNil(t, p.Employments)
		require.False(t, seen[p.ID], "person %s twice", p.ID)
		seen[p.ID] = true
		if i > 0 {
			require.Less(t, snap.People[i-1].ID, p.ID)
		}
		for _, e := range p.Employments {
			require.NotEqual(t, p.ID, e.Manager, "a person is not their own manager")
		}
	}
	for _, r := range snap.Rejected {
		require.False(t, r.PersonID != "" && seen[r.PersonID], "person %s both kept and rejected", r.PersonID)
	}
}

func FuzzStamdata3(f *testing.F) {
	f.Add(renderStamdata3(fxPeople(), fxUnits))
	f.Add(renderStamdata3(fxSecond()[:2], fxUnits[:2]))
	f.Add("<ExportInfo><Resources><Resource><ResourceId>1</ResourceId></Resource></Resources></ExportInfo>")
	src := &stamdata3{cfg: Stamdata3Config{Municipality: muni}}
	f.Fuzz(func(t *testing.T, body string) {
		snap, err := src.Read(context.Background(), Input{File: strings.NewReader(body), Today: today})
		if err != nil {
			return
		}
		checkSnapshot(t, snap)
	})
}

func FuzzVismaPersons(f *testing.F) {
	f.Add(renderVismaPersons(fxPeople()), renderVismaChart(fxUnits))
	f.Add(renderVismaPersons(fxSecond()[3:]), renderVismaChart(fxUnits[1:]))
	f.Fuzz(func(t *testing.T, persons, chart string) {
		var page vmPersons
		if xml.NewDecoder(strings.NewReader(persons)).Decode(&page) != nil {
			return
		}
		var c vmCharts
		if xml.NewDecoder(strings.NewReader(chart)).Decode(&c) != nil {
			return
		}
		checkSnapshot(t, decodeVisma(page.Persons, c, muni, today))
	})
}

func FuzzCSV(f *testing.F) {
	f.Add(renderCSV(fxPeople()))
	f.Add(renderCSV(fxSecond()[:3]))
	f.Add("\uFEFFAnsattnr;Fornavn;Etternavn;Kommunenr;Stillingsnr;Fra\r\n1;A;B;1547;1;01.01.2020\r\n")
	cfg := fxCSVConfig()
	f.Fuzz(func(t *testing.T, body string) {
		snap, err := readCSV(bytes.NewReader([]byte(body)), cfg.withDefaults())
		if err != nil {
			return
		}
		checkSnapshot(t, snap)
	})
}

func FuzzJSON(f *testing.F) {
	f.Add(renderJSON(fxPeople()))
	f.Add(`[{"id":"1547-1","given_name":"A","family_name":"B","municipality":"1547","employments":[{"id":"e","start":"2020-01-01","end":null}]}]`)
	f.Fuzz(func(t *testing.T, body string) {
		snap, err := jsonSource{}.Read(context.Background(), Input{File: strings.NewReader(body), Today: today})
		if err != nil {
			return
		}
		checkSnapshot(t, snap)
	})
}
