package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/hrsource"
)

const hrSection = `hr_sources:
  visma:
    type: visma-hrm
    key: {{dir}}/secrets/hr-feed.nk
    schedule: {every: 1h}
    fail_safe: {max_leave_share: 0.05, max_change_share: 0.2}
    days_before_start: 30
    base_url: https://hrm.aukra.kommune.no
    auth: {type: basic, username: WS-AD, password_file: {{dir}}/secrets/visma.pw}
    company: "1"
    municipality: "1547"
    id_end: 99999
  lonn:
    type: csv
    key: {{dir}}/secrets/hr-feed.nk
    principal: hr-feed
    file: {{dir}}/lonn.csv
    schedule: {daily: ["05:30", "13:00"]}
    delimiter: ";"
    municipality: "1547"
    columns: {id: Ansattnr, given_name: Fornavn, family_name: Etternavn, employment_id: Stillingsnr, start: Fra}
`

func hrWorld(t *testing.T) *world {
	w := newWorld(t)
	w.write(t, "secrets/hr-feed.nk", 0o600, "SUAEXAMPLE\n")
	w.write(t, "secrets/visma.pw", 0o600, secretPassword+"\n")
	w.write(t, "lonn.csv", 0o644, "Ansattnr;Fornavn\n")
	return w
}

// hr_sources decodes each source's common settings and its type's own,
// applies the defaults, and config check prints it with no secret.
func TestHRSourcesValid(t *testing.T) {
	t.Parallel()
	w := hrWorld(t)
	c, err := w.check(t, w.config(t, validConfig+hrSection), DefaultRegistry())
	require.NoError(t, err)
	require.Len(t, c.HRSources, 2)
	v := c.HRSources["visma"]
	require.Equal(t, "visma-hrm", v.Type)
	require.Equal(t, "hr-feed", v.Actor())
	require.Equal(t, time.Hour, v.Schedule.Every)
	require.Equal(t, 0.05, v.FailSafe.MaxLeaveShare)
	require.Equal(t, 30, v.Days())
	require.Equal(t, DefaultHRWait, v.WaitOrDefault())
	vc := v.Config.(*hrsource.VismaConfig)
	require.Equal(t, "https://hrm.aukra.kommune.no", vc.BaseURL)
	require.Equal(t, "WS-AD", vc.Auth.Username)
	l := c.HRSources["lonn"]
	require.Equal(t, []string{"05:30", "13:00"}, l.Schedule.Daily)
	require.Equal(t, 14, l.Days(), "the default")
	require.Equal(t, "Ansattnr", l.Config.(*hrsource.CSVConfig).Columns.ID)

	out := c.Redacted()
	require.NotContains(t, out, secretPassword)
	for _, want := range []string{"hr_sources:", "visma:", "type: visma-hrm", "base_url: https://hrm.aukra.kommune.no",
		"password_file: " + w.dir + "/secrets/visma.pw", "days_before_start: 14", "every: 1h0m0s", "Ansattnr"} {
		require.Contains(t, out, want)
	}
}

// Every mistake in hr_sources is reported at once, each naming its field.
func TestHRSourcesEveryMistakeAtOnce(t *testing.T) {
	t.Parallel()
	w := hrWorld(t)
	text := validConfig + `hr_sources:
  a:
    type: sap
  b:
    type: stamdata3
    key: {{dir}}/secrets/none.nk
    schedule: {every: 10s, daily: ["25:00"]}
    fail_safe: {max_leave_share: 1.5}
    days_before_start: -1
  c:
    type: fint
    file: x.json
    key: {{dir}}/secrets/hr-feed.nk
    base_url: http://hr.example.no
    auth: {type: bearer}
    municipality: "1547"
    colour: blue
  d: {key: x}
`
	_, err := w.check(t, w.config(t, text), DefaultRegistry())
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`hr_sources.a.type: "sap" is not an HR source type this build knows (known: csv, fint, json, stamdata3, visma-hrm)`,
		`hr_sources.b: stamdata3: municipality is empty`,
		`hr_sources.b.key: `,
		`hr_sources.b.file: missing: the file a stamdata3 source reads`,
		`hr_sources.b.schedule: set only one of every and daily`,
		`hr_sources.b.schedule.every: 10s is too often`,
		`hr_sources.b.schedule.daily[0]: "25:00" is not a time of day`,
		`hr_sources.b.fail_safe.max_leave_share: 1.5 is not a share between 0 and 1`,
		`hr_sources.b.days_before_start: -1 is not between 0 and 366`,
		`hr_sources.c.colour: unknown setting`,
		`hr_sources.c.file: a fint source is read over https from base_url, not from a file`,
		`plain http is allowed only to a loopback address`,
		`auth: set token_env or token_file`,
		`hr_sources.d.type: missing`,
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 1, strings.Count(msg, "hr_sources.c.colour"))
}

// The README's hr_sources example decodes: every key is one the worker
// knows (its files and variables are those of a production machine).
func TestHRSourcesREADMEExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## HR sources.*?```yaml\n(hr_sources:.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README has an hr_sources example")
	w := hrWorld(t)
	data, err := os.ReadFile(w.config(t, validConfig+string(m[1])))
	require.NoError(t, err)
	c, err := Parse("worker.yaml", data, DefaultRegistry(), w.getenv)
	require.NoError(t, err)
	require.Len(t, c.HRSources, 2)
	require.Equal(t, "visma-hrm", c.HRSources["visma"].Type)
	require.Equal(t, []string{"05:30"}, c.HRSources["lonn"].Schedule.Daily)
}
