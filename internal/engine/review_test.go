package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

func TestReviewersGoUpForTheirOwnAccess(t *testing.T) {
	t.Parallel()
	person := func(id, manager string) *ledger.PersonRow {
		return &ledger.PersonRow{Person: tilgang.Person{ID: id, Employments: []tilgang.Employment{{ID: id + "-1", Primary: true,
			Percent: 100, Manager: manager}}}}
	}
	people := map[string]*ledger.PersonRow{
		"p1": person("p1", "m1"), "m1": person("m1", "m2"), "m2": person("m2", ""), "self": person("self", "self"),
		"a1": person("a1", "m2"), "lone": person("lone", ""),
	}
	sys := &policy.System{ID: "s", Administrators: []string{"a1", "a2"}, Coordinator: "k1"}
	tests := []struct {
		name, kind, person string
		want               []string
	}{
		{"systemansvarlig: every administrator", policy.ReviewBySystemansvarlig, "p1", []string{"a1", "a2"}},
		{"systemansvarlig: an administrator's own access goes to the others", policy.ReviewBySystemansvarlig, "a1", []string{"a2"}},
		{"manager: the person's manager", policy.ReviewByManager, "p1", []string{"m1"}},
		{"manager: a manager's own access goes to their manager", policy.ReviewByManager, "m1", []string{"m2"}},
		{"manager: one who is their own manager goes to the administrators", policy.ReviewByManager, "self", []string{"a1", "a2"}},
		{"manager: no manager, the administrators", policy.ReviewByManager, "lone", []string{"a1", "a2"}},
		{"manager: an administrator without a manager, the other administrator", policy.ReviewByManager, "a2", []string{"a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ReviewersOf(tt.kind, sys, tt.person, people))
		})
	}
	solo := &policy.System{ID: "s", Administrators: []string{"lone"}, Coordinator: "k1"}
	require.Equal(t, []string{"k1"}, ReviewersOf(policy.ReviewBySystemansvarlig, solo, "lone", people), "nobody above: the coordinator")
}

func TestReviewWhyNotAndRecommend(t *testing.T) {
	t.Parallel()
	c := &ledger.ReviewCampaign{ID: "rc-1", State: ledger.CampaignOpen}
	it := &ledger.ReviewItem{Person: "p1", Role: "bruker", Reviewers: []string{"m1"}}
	require.Empty(t, ReviewWhyNot(c, it, "m1"))
	require.Equal(t, "m2 is not a reviewer of p1's bruker access in campaign rc-1", ReviewWhyNot(c, it, "m2"))
	require.Equal(t, "p1 may not review their own access", ReviewWhyNot(c, &ledger.ReviewItem{Person: "p1", Reviewers: []string{"p1"}}, "p1"))
	c.State = ledger.CampaignClosing
	require.Contains(t, ReviewWhyNot(c, it, "m1"), "decisions are taken only while it is open")

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	recent, old := now.Add(-89*24*time.Hour), now.Add(-90*24*time.Hour)
	require.Equal(t, ledger.RecommendPositive, Recommend(&recent, now).Value)
	require.Equal(t, ledger.RecommendNegative, Recommend(&old, now).Value)
	require.Equal(t, ledger.RecommendUnknown, Recommend(nil, now).Value)
}
