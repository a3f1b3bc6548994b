package bench

import (
	"fmt"

	"github.com/ror-ikt/tilgang"
)

// municipalities are the six municipalities of the IT service.
var municipalities = []string{"1506", "1547", "1535", "1539", "1554", "1557"}

// firstDayJobs cycle through the people of FirstDayPeople. With the example
// catalogue (policies/) every one gets Visma Enterprise ansatt as a
// birthright, a lærer in oppvekst Visma Flyt Skole laerer too; both provision
// through the noop connector alone, so every birthright grant becomes
// active without approval or manual work.
var firstDayJobs = []struct {
	unit, position string
	birthrights    int
}{
	{"oppvekst/skule", "lærer", 2},
	{"helse/hjemmetjenesten", "assistent", 1},
	{"teknisk/eiendom", "vaktmester", 1},
}

// FirstDayPeople makes n people, as HR sends them on the first day, and
// how many birthright grants the example catalogue gives them.
func FirstDayPeople(n int) (people []tilgang.Person, birthrights int) {
	people = make([]tilgang.Person, n)
	for i := range people {
		m := municipalities[i%len(municipalities)]
		job := firstDayJobs[i%len(firstDayJobs)]
		id := fmt.Sprintf("%s-%06d", m, 300000+i)
		people[i] = tilgang.Person{ID: id, GivenName: fmt.Sprintf("Tilsett%d", i), FamilyName: "Førstedag",
			Email: fmt.Sprintf("tilsett%d@%s.kommune.test", i, m), Municipality: m,
			Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100,
				OrgUnit: fmt.Sprintf("%s-%d", job.unit, i%40), Position: job.position,
				Start: tilgang.Date{Y: 2020, M: 8, D: 1}}}}
		birthrights += job.birthrights
	}
	return people, birthrights
}
