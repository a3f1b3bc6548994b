package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNotifyValid(t *testing.T) {
	t.Parallel()
	w := portalWorld(t)
	w.env["TILGANG_SMTP_PASSWORD"] = "smtp-" + secretPassword
	c, err := w.check(t, w.config(t, validConfig+portalSection+`notify:
  from: tilgang@ror-ikt.no
  smtp:
    address: smtp.ror-ikt.no:587
    username: tilgang
    password_env: TILGANG_SMTP_PASSWORD
  reminders: {remind_after: 3, escalate_after: 5}
`), DefaultRegistry())
	require.NoError(t, err)
	s, err := c.NotifySender()
	require.NoError(t, err)
	require.Equal(t, "smtp.ror-ikt.no:587", s.Addr)
	require.Equal(t, "smtp-"+secretPassword, s.Password)
	require.False(t, s.Plain, "STARTTLS is required")
	require.Equal(t, "https://tilgang.ror.kommune.no", c.NotifyPublicURL(), "links default to the portal's address")
	red := c.Redacted()
	require.NotContains(t, red, secretPassword)
	require.Contains(t, red, "password_env: TILGANG_SMTP_PASSWORD")
	require.Contains(t, red, "remind_after: 3")

	w.write(t, "secrets/smtp-password", 0o600, "fil-"+secretPassword+"\n")
	c, err = w.check(t, w.config(t, validConfig+portalSection+`notify:
  from: tilgang@ror-ikt.no
  smtp: {address: smtp.ror-ikt.no:587, username: tilgang, password_file: {{dir}}/secrets/smtp-password}
`), DefaultRegistry())
	require.NoError(t, err)
	s, err = c.NotifySender()
	require.NoError(t, err)
	require.Equal(t, "fil-"+secretPassword, s.Password)
	require.NotContains(t, c.Redacted(), secretPassword)

	c, err = w.check(t, w.config(t, validConfig), DefaultRegistry())
	require.NoError(t, err)
	s, err = c.NotifySender()
	require.NoError(t, err)
	require.Nil(t, s, "no notify section: no e-mail")
}

func TestNotifyEveryMistakeAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.write(t, "secrets/open-password", 0o644, "x\n")
	_, err := w.check(t, w.config(t, validConfig+`notify:
  from: "Tilgang <tilgang@ror-ikt.no>"
  digest: -1
  smtp:
    address: smtp.ror-ikt.no
    password_env: TILGANG_NOT_SET
    password_file: {{dir}}/secrets/open-password
  reminders: {remind_after: 5, escalate_after: 3}
`), DefaultRegistry())
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`notify.from: "Tilgang <tilgang@ror-ikt.no>" is not a plain e-mail address`,
		"notify.digest: -1 is negative",
		"notify.public_url: missing",
		`notify.smtp.address: "smtp.ror-ikt.no" is not host:port`,
		"notify.smtp.password_env: set password_env or password_file, not both",
		"notify.smtp.username: missing",
		"notify.smtp.password_env: the environment variable TILGANG_NOT_SET is not set or empty",
		"notify.reminders.escalate_after: 3 is not after remind_after (5)",
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 8, strings.Count(msg, "notify."), msg)
}
