package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

func mailbox(t *testing.T, l ledger.Ledger) ledger.Mailbox {
	t.Helper()
	if w, ok := l.(loading); ok {
		l = w.Ledger // the mail outbox is outside transactions: nothing to preload
	}
	mb, ok := l.(ledger.Mailbox)
	require.True(t, ok, "the backend keeps no mail outbox (ledger.Mailbox)")
	return mb
}

func emit(t *testing.T, l ledger.Ledger, kinds ...string) {
	t.Helper()
	tx, err := l.Begin(context.Background())
	require.NoError(t, err)
	for _, k := range kinds {
		tx.Emit(ledger.Event{Kind: k, Person: "p1", At: t0, Data: map[string]any{"grant_id": "g1"}})
	}
	require.NoError(t, tx.Commit())
}

var mailTests = []test{
	{"EventsAreReadOnce", func(t *testing.T, l ledger.Ledger) {
		ctx := context.Background()
		mb := mailbox(t, l)
		emit(t, l, "approval.pending", "grant.active")
		evs, err := mb.PendingNotifications(ctx, 10)
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, "approval.pending", evs[0].Kind)
		require.Equal(t, "g1", evs[0].Data["grant_id"])
		require.Equal(t, t0.Truncate(time.Millisecond), evs[0].At)
		// Publishing does not read them for the notifier, nor the reverse.
		require.NoError(t, l.MarkPublished(ctx, []int64{evs[0].ID}))
		again, err := mb.PendingNotifications(ctx, 10)
		require.NoError(t, err)
		require.Len(t, again, 2)

		m := ledger.Mail{Key: "ev1.a", EventID: evs[0].ID, Kind: "approval.pending", Recipient: "a", Address: "a@example.no",
			MessageID: "<ev1.a@tilgang>", Message: []byte("Subject: x\r\n\r\nhei\r\n"), Created: t0}
		require.NoError(t, mb.QueueMails(ctx, []int64{evs[0].ID}, []ledger.Mail{m}))
		left, err := mb.PendingNotifications(ctx, 10)
		require.NoError(t, err)
		require.Len(t, left, 1)
		require.Equal(t, evs[1].ID, left[0].ID)
		pub, err := l.PendingEvents(ctx, 10)
		require.NoError(t, err)
		require.Len(t, pub, 1, "reading for the notifier does not publish")

		// The same key again is left out: a mail is queued once.
		m2 := m
		m2.Message = []byte("Subject: y\r\n\r\nannet\r\n")
		require.NoError(t, mb.QueueMails(ctx, []int64{evs[1].ID}, []ledger.Mail{m2}))
		all, err := mb.Mails(ctx, "")
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.Equal(t, m.Message, all[0].Message)
		require.Equal(t, ledger.MailQueued, all[0].State)
		require.Equal(t, "<ev1.a@tilgang>", all[0].MessageID)
		left, err = mb.PendingNotifications(ctx, 10)
		require.NoError(t, err)
		require.Empty(t, left)
	}},
	{"DeferredThenSent", func(t *testing.T, l ledger.Ledger) {
		ctx := context.Background()
		mb := mailbox(t, l)
		var ms []ledger.Mail
		for _, r := range []string{"a", "b", "c"} {
			ms = append(ms, ledger.Mail{Key: "k." + r, Kind: "grant.active", Recipient: r, Address: r + "@example.no", MessageID: "<" + r + ">",
				Message: []byte("x"), Created: t0})
		}
		require.NoError(t, mb.QueueMails(ctx, nil, ms))
		due, err := mb.DueMails(ctx, t0, 10)
		require.NoError(t, err)
		require.Len(t, due, 3)
		require.Equal(t, "a", due[0].Recipient)
		require.NoError(t, mb.MailDeferred(ctx, due[0].ID, t0.Add(time.Minute), "dial tcp: connection refused"))
		require.NoError(t, mb.MailSent(ctx, due[1].ID, t0))
		require.NoError(t, mb.MailDeferred(ctx, due[2].ID, time.Time{}, "550 no such user"))
		due, err = mb.DueMails(ctx, t0.Add(30*time.Second), 10)
		require.NoError(t, err)
		require.Empty(t, due, "a deferred mail waits; sent and failed ones are done")
		due, err = mb.DueMails(ctx, t0.Add(time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, 1, due[0].Attempts)
		require.Equal(t, "dial tcp: connection refused", due[0].LastError)
		require.NoError(t, mb.MailSent(ctx, due[0].ID, t0.Add(time.Minute)))
		a, err := mb.Mails(ctx, "a")
		require.NoError(t, err)
		require.Len(t, a, 1)
		require.Equal(t, ledger.MailSent, a[0].State)
		require.Equal(t, 2, a[0].Attempts)
		require.Equal(t, t0.Add(time.Minute).Truncate(time.Millisecond), a[0].SentAt)
		c, err := mb.Mails(ctx, "c")
		require.NoError(t, err)
		require.Equal(t, ledger.MailFailed, c[0].State)
	}},
}
