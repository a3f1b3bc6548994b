package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func TestTermSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "Åse Øvergård-Bø", "Åse Øvergård-Bø"},
		{"title and clear", "\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"nul, cr, lf, tab", "a\x00b\rc\nd\te", `a\x00b\rc\nd\te`},
		{"del and c1", "a\x7fb\u009b2J", `a\x7fb\x9b2J`},
		{"bidi", "gerica\u202eevitca", `gerica\u202eevitca`},
		{"isolates", "\u2066x\u2069", `\u2066x\u2069`},
		{"invalid utf-8", "a\x9b[2Jb\xff", `a\x9b[2Jb\xff`},
		{"backslash stays", `C:\temp`, `C:\temp`},
		{"replacement character stays", "a\ufffdb", "a\ufffdb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, termSafe(tc.in))
		})
	}
	require.Equal(t, "line one\nline two \\x1b[2J", termLines("line one\nline two \x1b[2J"), "termLines keeps line breaks only")
}

// Text from outside (a target system's error text, a rejection's reason)
// reaches the terminal escaped: no escape sequence can retitle the window,
// clear the screen or print a fake "grant active" over the real state.
func TestOutputEscapesControlCharacters(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const hostile = "boom\x1b]0;pwned\x07\x1b[2J\x1b[H\rgrant g1 active\u202e\u009b31m"
	reqID := envelope.KeyHash("1547-10001", "portal", "esc")
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: reqID, Person: person, Actor: "1547-10001", Outcome: "rejected", Why: hostile, At: now}))
	require.NoError(t, tx.InsertGrant(ledger.Grant{ID: "g1", Person: person, System: "gerica", Role: "bruker", State: tilgang.StateFailed,
		Created: now, Updated: now}))
	_, err = tx.InsertOperation(ledger.Operation{GrantID: "g1", Person: person, Connector: "gerica", Kind: ledger.KindGrant,
		Entitlement: "Bruker", State: ledger.OpFailed, Attempts: 3, LastError: "rest: grant: 500: " + hostile,
		DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	for _, args := range [][]string{{"status", reqID}, {"grant", "show", "g1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := w.run(t, nil, args...)
			require.Equal(t, 0, code, errOut)
			all := out + errOut
			for _, c := range []string{"\x1b", "\x07", "\r", "\u202e", "\u009b"} {
				require.NotContains(t, all, c)
			}
			require.Contains(t, all, `boom\x1b]0;pwned\x07\x1b[2J\x1b[H`)
			require.Contains(t, all, `\u202e\x9b31m`)
		})
	}
}
