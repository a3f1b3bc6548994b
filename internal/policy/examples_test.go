package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// The walkthrough's people (deploy/examples/people.json) must fit the
// example catalogue: everyone a policy names exists, and so does every
// manager.
func TestExamplePeopleFitTheCatalogue(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)

	b, err := os.ReadFile("../../deploy/examples/people.json")
	require.NoError(t, err)
	var raw []map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	for _, r := range raw {
		require.NotContains(t, r, "version", "hr import assigns the version")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var people []tilgang.Person
	require.NoError(t, dec.Decode(&people))

	byID := map[string]*tilgang.Person{}
	for i := range people {
		p := &people[i]
		require.NoError(t, p.Validate())
		require.NotContains(t, byID, p.ID, "person ids are unique")
		byID[p.ID] = p
		require.Regexp(t, `^(1506|1547|1539|1535|1579|1557)-\d+$`, p.ID)
		require.Equal(t, p.Municipality, p.ID[:4], p.ID)
	}
	for _, p := range people {
		for _, e := range p.Employments {
			if e.Manager != "" {
				require.Contains(t, byID, e.Manager, "%s's manager", p.ID)
				require.NotEqual(t, p.ID, e.Manager)
			}
		}
	}
	for _, s := range c.Systems {
		for _, a := range s.Administrators {
			require.Contains(t, byID, a, "%s administrator", s.ID)
		}
		require.Contains(t, byID, s.Coordinator, "%s coordinator", s.ID)
	}

	// What the walkthrough shows.
	chain, twoJobs, nurse, teacher := false, false, false, false
	for _, p := range people {
		m, ok := p.Main()
		require.True(t, ok, p.ID)
		if mgr := byID[m.Manager]; mgr != nil && mgr.Manager() != "" {
			chain = true
		}
		if len(p.Employments) == 2 && (p.Employments[0].End.IsZero() != p.Employments[1].End.IsZero()) {
			twoJobs = true
		}
		nurse = nurse || (m.Position == "sykepleier" && m.OrgUnit[:6] == "helse/")
		teacher = teacher || (m.Position == "lærer" && m.OrgUnit[:9] == "oppvekst/")
	}
	require.True(t, chain, "a manager's manager")
	require.True(t, twoJobs, "two employments, one ending")
	require.True(t, nurse && teacher)
	require.Equal(t, "Øvergård-Bø", byID["1547-10234"].FamilyName)
	require.Equal(t, "2027-01-04", byID["1506-10777"].Employments[0].Start.String(), "the future joiner")
}
