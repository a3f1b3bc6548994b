package policy

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestReviewSettings(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, block string) (*Catalogue, error) {
		return LoadFS(fstest.MapFS{"gerica.yaml": {Data: []byte(gerica + block)}}, devConnectors)
	}
	c, err := load(t, "")
	require.NoError(t, err)
	require.Nil(t, c.Systems["gerica"].Review, "no review: means no campaigns")

	c, err = load(t, "review:\n  every: 6mo\n  reviewers: systemansvarlig\n  duration: 14d\n  if_no_response: remove\n  justification: required\n")
	require.NoError(t, err)
	require.Equal(t, &Review{Every: Every{Months: 6}, Reviewers: ReviewBySystemansvarlig, Duration: 14, IfNoResponse: ReviewRemove,
		Justification: JustificationRequired, Line: 27}, c.Systems["gerica"].Review)

	c, err = load(t, "review: {reviewers: manager}\n")
	require.NoError(t, err)
	require.Equal(t, &Review{Reviewers: ReviewByManager, Duration: DefaultReviewDuration, IfNoResponse: ReviewKeep,
		Justification: JustificationOptional, Line: 26}, c.Systems["gerica"].Review, "the defaults: by hand only, 14 days, keep, optional")

	c, err = load(t, "review: {reviewers: manager, every: 12w, duration: 30d}\n")
	require.NoError(t, err)
	require.Equal(t, Every{Days: 84}, c.Systems["gerica"].Review.Every)

	// Every bad field is named, at its line.
	_, err = load(t, "review:\n  every: often\n  reviewers: hr\n  duration: 2w\n  if_no_response: ignore\n  justification: maybe\n  who: all\n")
	require.Error(t, err)
	for _, want := range []string{
		`gerica.yaml:27: review.every "often" is not a period like 6mo, 12w or 90d`,
		`gerica.yaml:28: review.reviewers "hr" is not one of systemansvarlig, manager`,
		`gerica.yaml:29: review.duration "2w" is not a number of days like 180d`,
		`gerica.yaml:30: review.if_no_response "ignore" is not one of remove, keep`,
		`gerica.yaml:31: review.justification "maybe" is not one of required, optional`,
		`gerica.yaml:32: review: unknown key "who"`,
	} {
		require.Contains(t, err.Error(), want)
	}
	_, err = load(t, "review: {every: 1mo, duration: 60d}\n")
	require.ErrorContains(t, err, "review.reviewers is missing")
	require.ErrorContains(t, err, "review.duration 60d is not shorter than review.every 1mo")
	_, err = load(t, "review: {reviewers: manager, every: 3d}\n")
	require.ErrorContains(t, err, `review.every "3d" must be between 7d and 3650d`)
	_, err = load(t, "review: yearly\n")
	require.ErrorContains(t, err, "gerica.yaml:26: review must be a mapping")
}
