package config

import (
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"

	"github.com/ror-ikt/tilgang/internal/notify"
)

// Notify is the `notify:` section: e-mail to the people an event concerns
// (DESIGN.md "Notifications"). Without smtp the worker sends no e-mail
// and says so once in its log.
//
//	notify:
//	  from: tilgang@ror-ikt.no
//	  public_url: https://tilgang.ror.kommune.no   # default: portal.public_url; the base of every link
//	  digest: 5                                    # more mails than this to one person at once: one digest
//	  smtp:
//	    address: smtp.ror-ikt.no:587               # STARTTLS is required
//	    username: tilgang
//	    password_env: TILGANG_SMTP_PASSWORD        # or password_file: /etc/tilgang/secrets/smtp-password
//	  reminders:                                   # working days (weekends and Norwegian public holidays excluded)
//	    remind_after: 3                            # an approval or manual task still pending: a reminder
//	    escalate_after: 5                          # and then escalated (manager stage: the manager's manager may approve)
type Notify struct {
	From      string          `yaml:"from"`
	PublicURL string          `yaml:"public_url"`
	Digest    int             `yaml:"digest"`
	SMTP      *NotifySMTP     `yaml:"smtp"`
	Reminders NotifyReminders `yaml:"reminders"`
}

// NotifySMTP is the SMTP server mail goes through.
type NotifySMTP struct {
	Address      string `yaml:"address"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env" secret:"false"`
	PasswordFile string `yaml:"password_file" secret:"false"`
}

// NotifyReminders are the working days after which an approval or a manual
// task still pending is reminded, and escalated; 0 turns either off.
type NotifyReminders struct {
	RemindAfter   int `yaml:"remind_after"`
	EscalateAfter int `yaml:"escalate_after"`
}

// SMTPPassword reads the SMTP password from its environment variable or
// file ("" when neither is set).
func (c *Config) SMTPPassword() (string, error) {
	if c.Notify == nil || c.Notify.SMTP == nil {
		return "", nil
	}
	s := c.Notify.SMTP
	switch {
	case s.PasswordEnv != "":
		return c.getenv(s.PasswordEnv), nil
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("notify.smtp.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// NotifyPublicURL is the base of mail links: notify.public_url, else the
// portal's.
func (c *Config) NotifyPublicURL() string {
	if c.Notify != nil && c.Notify.PublicURL != "" {
		return c.Notify.PublicURL
	}
	if c.Portal != nil {
		return c.Portal.PublicURL
	}
	return ""
}

// NotifySender is the SMTP client of the notify section, nil without one.
func (c *Config) NotifySender() (*notify.SMTP, error) {
	if c.Notify == nil || c.Notify.SMTP == nil {
		return nil, nil
	}
	pw, err := c.SMTPPassword()
	if err != nil {
		return nil, err
	}
	return &notify.SMTP{Addr: c.Notify.SMTP.Address, Username: c.Notify.SMTP.Username, Password: pw}, nil
}

// validateNotify adds the notify section's problems.
func (c *Config) validateNotify(add func(string, string, ...any)) {
	n := c.Notify
	if n == nil {
		return
	}
	if n.Digest < 0 {
		add("notify.digest", "%d is negative: the most mails one person gets at once before they become one digest", n.Digest)
	}
	if n.Reminders.RemindAfter < 0 {
		add("notify.reminders.remind_after", "%d is negative: working days", n.Reminders.RemindAfter)
	}
	if n.Reminders.EscalateAfter < 0 {
		add("notify.reminders.escalate_after", "%d is negative: working days", n.Reminders.EscalateAfter)
	}
	if n.Reminders.EscalateAfter > 0 && n.Reminders.EscalateAfter <= n.Reminders.RemindAfter {
		add("notify.reminders.escalate_after", "%d is not after remind_after (%d): escalation comes after the reminder",
			n.Reminders.EscalateAfter, n.Reminders.RemindAfter)
	}
	if n.SMTP == nil {
		return
	}
	if n.From == "" {
		add("notify.from", "missing: the address mail is sent from, e.g. tilgang@ror-ikt.no")
	} else if a, err := mail.ParseAddress(n.From); err != nil || a.Name != "" {
		add("notify.from", "%q is not a plain e-mail address", n.From)
	}
	if u := c.NotifyPublicURL(); u == "" {
		add("notify.public_url", "missing: the portal's address, the base of every link in a mail (or set portal.public_url)")
	} else if n.PublicURL != "" {
		if msg := checkPublicURL(n.PublicURL, "public_url"); msg != "" {
			add("notify.public_url", "%s", msg)
		}
	}
	s := n.SMTP
	if s.Address == "" {
		add("notify.smtp.address", "missing: the SMTP server as host:port (587 for STARTTLS)")
	} else if h, p, err := net.SplitHostPort(s.Address); err != nil || h == "" || p == "" {
		add("notify.smtp.address", "%q is not host:port", s.Address)
	}
	if s.PasswordEnv != "" && s.PasswordFile != "" {
		add("notify.smtp.password_env", "set password_env or password_file, not both")
	}
	if (s.PasswordEnv != "" || s.PasswordFile != "") && s.Username == "" {
		add("notify.smtp.username", "missing: a password is set but no user name to authenticate with")
	}
	switch {
	case s.PasswordEnv != "" && !envName.MatchString(s.PasswordEnv):
		add("notify.smtp.password_env", "%q is not an environment variable name", s.PasswordEnv)
	case s.PasswordEnv != "" && c.getenv(s.PasswordEnv) == "":
		add("notify.smtp.password_env", "the environment variable %s is not set or empty", s.PasswordEnv)
	case s.PasswordFile != "":
		c.checkFile(add, "notify.smtp.password_file", s.PasswordFile, true)
	}
	if s.Username != "" && s.PasswordEnv == "" && s.PasswordFile == "" {
		add("notify.smtp.password_env", "missing: the password of %s, from password_env or password_file", s.Username)
	}
}
