// Package app wires tilgang's parts into a running process: the embedded
// `tilgang dev` (in-process NATS, SQLite, intake, executor, publisher, API,
// health endpoints) and the distributed `tilgang worker`.
//
// The catalogue in force is kept in the ledger, not in each replica's
// memory: the API calls are answered by any one replica (a queue group), so
// a reload that changed only the answering replica's catalogue would leave
// the others, the intake among them perhaps, deciding with the old one.
// Instead:
//
//   - `policy reload` and SIGHUP, on whichever replica gets them, load that
//     replica's policy files, validate them and store them (name ->
//     contents, version, when, who) as the catalogue in force, with the
//     policy.reload audit entry in the same transaction. The newest stored
//     is in force, so every replica decides with the same files even when
//     its own differ.
//   - Every replica follows the ledger: when told on SyncSubject (core
//     NATS, every replica hears it) and every SyncEvery as a backstop, it
//     reads the version in force and loads the stored files when its own
//     differs, checking them against its own connector instances. One that
//     fails to load is logged, the replica keeps its catalogue and reports
//     the failure.
//   - The intake never decides with a stale catalogue: every batch
//     transaction reads the version in force first (one small read per
//     batch, not per message) and loads it when the engine's differs. When
//     it cannot, the batch is handed back undecided and the intake gives
//     its lease up, for a replica that can load it.
//   - At start a replica stores its local files as the catalogue in force
//     when the ledger holds another (or none), audited with actor "start":
//     a rolling restart with new files moves every replica, and `tilgang
//     dev` takes edited files on restart.
//   - The reload asks every replica (a request on SyncSubject) to follow
//     the ledger and answer with the version it holds, whether it holds
//     the intake lease and its error, if any; it collects answers until a
//     second after the last, for at most three seconds, and returns them.
//
// A batch that began before a reload committed may still commit with the
// catalogue it read; every batch begun after decides with the new one.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// DevSQLiteCache is the page cache of dev's SQLite ledger. A whole IT
// service's first day (20,000 people) peaked at about 320 MB resident with
// the ledger's default of 64 MiB, most of it this cache, which SQLite's
// allocator keeps once used (README "Measured").
const DevSQLiteCache = 16 << 20

// DevReminders are dev's reminders unless DevOptions.Reminders says
// otherwise (--remind-after, --escalate-after): a pending approval or
// manual task is reminded after 3 working days and escalated after 5.
var DevReminders = engine.Reminders{RemindAfter: 3, EscalateAfter: 5}

// DevOptions configure `tilgang dev`.
type DevOptions struct {
	Data       string // data directory, default ./.tilgang
	Policies   string // catalogue directory, default policies/
	NATSListen string // default 127.0.0.1:4223
	HTTP       string // health endpoints, default 127.0.0.1:8480
	Log        *slog.Logger
	// OIDC, when set, signs people in to the portal with OpenID Connect
	// instead of the development sign-in (--oidc-issuer).
	OIDC *portal.OIDC
	// Ready, when set, is called once everything listens, with the NATS URL.
	Ready func(natsURL, httpAddr string)
	// SMTP, when set, is a loopback SMTP server (host:port) that the
	// notifier sends to without TLS (--smtp), with links to dev's portal.
	SMTP string
	// Notify, when set, adjusts dev's notifier (tests: retry times).
	Notify func(*notify.Notifier)
	// Reminders, when set, are the working days after which dev reminds
	// and escalates a pending approval or manual task (0: never); default
	// DevReminders.
	Reminders *engine.Reminders
	// Now, when set, is the clock of dev's engine and notifier (tests:
	// reminders that fall due days later); default time.Now.
	Now func() time.Time
	// Telemetry exports traces (--otlp-endpoint); nil: none are made.
	Telemetry *telemetry.Provider
}

// Dev runs the embedded default until ctx is cancelled, then drains.
func Dev(ctx context.Context, o DevOptions) error {
	return runDev(ctx, o)
}
