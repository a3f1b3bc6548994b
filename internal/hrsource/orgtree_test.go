package hrsource

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrgTreeManager(t *testing.T) {
	t.Parallel()
	tree := OrgTree{
		"top":   {Leaders: []string{"boss"}},
		"mid":   {Parent: "top"},
		"leaf":  {Parent: "mid", Leaders: []string{"lead"}},
		"pair":  {Parent: "top", Leaders: []string{"first", "second"}},
		"loopA": {Parent: "loopB"},
		"loopB": {Parent: "loopA"},
		"self":  {Parent: "self", Leaders: []string{"solo"}},
	}
	tests := []struct {
		name, unit, direct, person, want string
	}{
		{"leader of the unit", "leaf", "", "staff", "lead"},
		{"leader is the person: one up, past a unit without leader", "leaf", "", "lead", "boss"},
		{"missing leader: walk up", "mid", "", "staff", "boss"},
		{"direct manager wins", "leaf", "other", "staff", "other"},
		{"direct manager is the person: walk up", "leaf", "lead", "lead", "boss"},
		{"second leader when the first is the person", "pair", "", "first", "second"},
		{"top leader has no manager", "top", "", "boss", ""},
		{"unknown unit", "nowhere", "", "staff", ""},
		{"a cycle ends the walk", "loopA", "", "staff", ""},
		{"a unit that is its own parent", "self", "", "solo", ""},
		{"no tree: direct only", "", "", "staff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tree.Manager(tt.unit, tt.direct, tt.person))
		})
	}
	require.Equal(t, "x", OrgTree(nil).Manager("u", "x", "p"))
	require.Empty(t, OrgTree(nil).Manager("u", "p", "p"))
}
