package ledger

import (
	"context"
	"time"
)

// --- notifications (DESIGN.md "Notifications") ---

// MailState is where a mail in the outbox is.
type MailState string

const (
	MailQueued MailState = "queued" // to be sent (again, after NextAt)
	MailSent   MailState = "sent"   // the SMTP server took it
	MailFailed MailState = "failed" // refused for good (a permanent SMTP error)
)

// Mail is one e-mail in the notifier's outbox: the whole message as it is
// handed to the SMTP server, made once when its event was read, so a
// repeat after a crash sends the same bytes with the same Message-ID.
type Mail struct {
	ID        int64
	Key       string // unique: a mail is queued at most once per key (event and recipient)
	EventID   int64  // the event it tells of (the first, for a digest); 0 for a notice of the notifier's own
	Kind      string // the event kind, or "digest", "no_email"
	Recipient string // the person id
	Address   string // the e-mail address it goes to
	MessageID string // the Message-ID header, derived from Key
	Message   []byte // the RFC 5322 message, headers and body
	State     MailState
	Attempts  int
	NextAt    time.Time // not before (a deferred mail's next attempt)
	LastError string
	Created   time.Time
	SentAt    time.Time
}

// Mailbox is the notifier's durable part of the ledger: which committed
// events it has read, and the mails it made of them.
type Mailbox interface {
	// PendingNotifications lists up to n committed events the notifier
	// has not read yet, oldest first. Events committed before the ledger
	// had a mailbox count as read (nobody is told of the past).
	PendingNotifications(ctx context.Context, n int) ([]Event, error)
	// QueueMails stores mails (one with a key already stored is left out)
	// and marks the events read, in one transaction.
	QueueMails(ctx context.Context, eventIDs []int64, mails []Mail) error
	// DueMails lists up to n queued mails due at now, oldest first.
	DueMails(ctx context.Context, now time.Time, n int) ([]Mail, error)
	// MailSent records that the SMTP server took the mail.
	MailSent(ctx context.Context, id int64, at time.Time) error
	// MailDeferred records a failed attempt: the mail is tried again at
	// next, or is failed for good when next is zero.
	MailDeferred(ctx context.Context, id int64, next time.Time, lastErr string) error
	// Mails lists the mails of recipient ("" for all), oldest first.
	Mails(ctx context.Context, recipient string) ([]Mail, error)
}

// --- end notifications ---
