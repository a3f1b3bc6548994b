package hrsource

// Unit is one organisation unit of a source's tree.
type Unit struct {
	Parent  string   // "" (or the unit itself) at the top
	Leaders []string // person ids, in the source's order
}

// OrgTree is a source's organisation tree, keyed by unit id. A nil tree is
// a source that gives none.
type OrgTree map[string]Unit

// Manager is the manager of person in unit: direct (the one the source names
// for the employment) unless it is empty or the person, else the first
// leader of unit that is not the person, walking up the parents while a unit
// has none. "" when the walk reaches the top (or a cycle) without one.
func (t OrgTree) Manager(unit, direct, person string) string {
	if direct != "" && direct != person {
		return direct
	}
	seen := map[string]bool{}
	for u := unit; u != "" && !seen[u]; {
		seen[u] = true
		n, ok := t[u]
		if !ok {
			return ""
		}
		for _, l := range n.Leaders {
			if l != "" && l != person {
				return l
			}
		}
		u = n.Parent
	}
	return ""
}
