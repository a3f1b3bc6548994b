package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang/connectors"
	csvconn "github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

func runDev(ctx context.Context, o DevOptions) error {
	reminders := DevReminders
	if o.Reminders != nil {
		reminders = *o.Reminders
	}
	if err := checkDevReminders(reminders); err != nil {
		return err
	}
	if o.Data == "" {
		o.Data = ".tilgang"
	}
	if o.Policies == "" {
		o.Policies = "policies"
	}
	if o.NATSListen == "" {
		o.NATSListen = "127.0.0.1:4223"
	}
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:8480"
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return fmt.Errorf("dev: data directory: %w", err)
	}
	ps, err := principals.EnsureDev(o.Data)
	if err != nil {
		return fmt.Errorf("dev: principals: %w", err)
	}
	if ps, err = devExtraPrincipals(o.Data, ps); err != nil {
		return err
	}
	conns := connectors.Set{}
	conns["manual"] = manual.Connector{}
	nc0, err := noop.Open(noop.Config{Journal: filepath.Join(o.Data, "noop.journal")})
	if err != nil {
		return fmt.Errorf("dev: noop connector: %w", err)
	}
	conns["noop"] = nc0
	// A csv instance, as for a fagsystem that imports files: the whole
	// desired state in <data>/csv/csv.csv.
	csvDir := filepath.Join(o.Data, "csv")
	if err := os.MkdirAll(csvDir, 0o700); err != nil {
		return fmt.Errorf("dev: csv directory: %w", err)
	}
	csvCfg := &csvconn.Config{Dir: csvDir, Rows: "account", Columns: []csvconn.Column{
		{Header: "id", Field: "id"}, {Header: "given_name", Field: "given_name"}, {Header: "family_name", Field: "family_name"},
		{Header: "email", Field: "email"}, {Header: "enabled", Field: "enabled"}, {Header: "roles", Field: "roles"}}}
	if err := csvCfg.Validate(); err != nil {
		return fmt.Errorf("dev: csv connector: %w", err)
	}
	c0, err := csvCfg.Open("csv", log) // the connector adds connector=csv itself
	if err != nil {
		return fmt.Errorf("dev: csv connector: %w", err)
	}
	conns["csv"] = c0
	defer conns.Close()
	cat, err := policy.Load(o.Policies, conns.Names())
	if err != nil {
		return fmt.Errorf("dev: the catalogue in %s is invalid, not starting:\n%w", o.Policies, err)
	}

	host, portS, err := net.SplitHostPort(o.NATSListen)
	if err != nil {
		return fmt.Errorf("dev: --nats-listen %q: %w", o.NATSListen, err)
	}
	if !isLoopback(host) {
		return fmt.Errorf("dev: --nats-listen %q: host %q is not a loopback address (127.0.0.1, ::1 or localhost): "+
			"dev's NATS server has no authentication, so anyone who reached it could read API replies and publish as anyone", o.NATSListen, host)
	}
	if o.SMTP != "" {
		h, _, err := net.SplitHostPort(o.SMTP)
		if err != nil {
			return fmt.Errorf("dev: --smtp %q: %w", o.SMTP, err)
		}
		if !isLoopback(h) {
			return fmt.Errorf("dev: --smtp %q: host %q is not a loopback address (127.0.0.1, ::1 or localhost): dev sends mail without TLS, so only to this machine", o.SMTP, h)
		}
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("dev: --nats-listen %q: port: %w", o.NATSListen, err)
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: port, JetStream: true, StoreDir: filepath.Join(o.Data, "nats"),
		ServerName: "tilgang-dev", NoSigs: true, MaxPayload: 1 << 20})
	if err != nil {
		return fmt.Errorf("dev: nats server: %w", err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(15 * time.Second) {
		return fmt.Errorf("dev: nats server did not start on %s", o.NATSListen)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("tilgang-dev"))
	if err != nil {
		return fmt.Errorf("dev: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	unlock, err := sqlledger.Lock(filepath.Join(o.Data, "ledger.db")) // `tilgang restore` refuses while held
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer unlock()
	// A small page cache: SQLite keeps what it once used (README "Measured").
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(o.Data, "ledger.db"), sqlledger.CacheSize(DevSQLiteCache))
	if err != nil {
		return err
	}
	defer store.Close()
	if err := afterRestore(ctx, store, js, streams.Options{}, log); err != nil {
		return fmt.Errorf("dev: %w", err)
	}

	now := o.Now
	if now == nil {
		now = time.Now
	}
	eng := engine.New(cat, ps, conns, now, log)
	eng.SealTo = principals.DevID // DESIGN.md: in dev, credentials are sealed to dev
	eng.Reminders = reminders
	wk, err := principals.EnsureWorkerKey(o.Data)
	if err != nil {
		return err
	}
	p := &Parts{Log: log, NC: nc, JS: js, Ledger: store, Engine: eng, Connectors: conns, PoliciesDir: o.Policies, Holder: "dev", ReleaseOwn: true,
		WorkerKey: wk, Tracer: o.Telemetry.Tracer(telemetry.Scope)}
	if p.Portal, err = devPortal(o.Data, nc, js, o.OIDC, p.Tracer, log); err != nil {
		return err
	}
	p.LoadPrincipals = func() (*principals.Set, error) {
		ps, err := principals.EnsureDev(o.Data)
		if err != nil {
			return nil, err
		}
		return devExtraPrincipals(o.Data, ps)
	}
	p.Notify = func(httpAddr string) *notify.Notifier {
		n := &notify.Notifier{Ledger: store, Catalogue: eng.Catalogue, From: "tilgang@localhost", PublicURL: "http://" + httpAddr, Log: log, Now: now}
		if o.SMTP != "" {
			n.Sender = &notify.SMTP{Addr: o.SMTP, Plain: true}
			log.Info("notify: sending e-mail without TLS to a local SMTP server", "smtp", o.SMTP)
		}
		if o.Notify != nil {
			o.Notify(n)
		}
		return n
	}
	defer p.ReloadOnSIGHUP(ctx)()
	return p.Run(ctx, o.HTTP, func(httpAddr string) {
		if o.Ready != nil {
			o.Ready(ns.ClientURL(), httpAddr)
		}
	})
}

// isLoopback says whether host, from --nats-listen, names only the loopback
// interface. An empty host or 0.0.0.0 listens on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDevReminders refuses working days that cannot be meant, before dev
// starts or changes anything.
func checkDevReminders(r engine.Reminders) error {
	var problems []string
	if r.RemindAfter < 0 {
		problems = append(problems, fmt.Sprintf("--remind-after %d is negative: working days (0 turns reminders off)", r.RemindAfter))
	}
	if r.EscalateAfter < 0 {
		problems = append(problems, fmt.Sprintf("--escalate-after %d is negative: working days (0 turns escalation off)", r.EscalateAfter))
	} else if r.EscalateAfter > 0 && r.EscalateAfter <= r.RemindAfter {
		problems = append(problems, fmt.Sprintf("--escalate-after %d is not after --remind-after %d: escalation comes after the reminder", r.EscalateAfter, r.RemindAfter))
	}
	if problems != nil {
		return fmt.Errorf("dev: %s", strings.Join(problems, "; "))
	}
	return nil
}
