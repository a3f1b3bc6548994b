package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

func runDev(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	data := fs.String("data", ".tilgang", "the `DIR` holding the SQLite ledger, the JetStream store and the dev keys")
	policies := fs.String("policies", "policies", "the policy catalogue `DIR`")
	listen := fs.String("nats-listen", "127.0.0.1:4223", "host:port (`ADDR`) the embedded NATS server listens on (loopback only: it has no authentication)")
	httpAddr := fs.String("http", "127.0.0.1:8480", "host:port (`ADDR`) of the portal and the health endpoints (the portal only on loopback)")
	issuer := fs.String("oidc-issuer", "", "sign in to the portal with OpenID Connect at this issuer `URL` instead of the development sign-in")
	clientID := fs.String("oidc-client-id", "tilgang-portal", "the portal's OpenID Connect client `ID`")
	secretEnv := fs.String("oidc-client-secret-env", "TILGANG_OIDC_CLIENT_SECRET", "the environment variable (`NAME`) holding the client secret")
	claim := fs.String("oidc-person-claim", "employeeid", "the ID token `CLAIM` holding the person's id")
	smtpAddr := fs.String("smtp", "", "send e-mail notifications to the SMTP server at host:port (`ADDR`; loopback only, without TLS), with links to this portal")
	remind := fs.Int("remind-after", app.DevReminders.RemindAfter, "remind of an approval or manual task still pending after this many working `DAYS` (0: never)")
	escalate := fs.Int("escalate-after", app.DevReminders.EscalateAfter, "escalate an approval or manual task still pending after this many working `DAYS` (0: never)")
	otlp := fs.String("otlp-endpoint", "", "export traces to the OTLP/HTTP collector at this `URL` (the worker config's telemetry.otlp_endpoint; default: no traces)")
	service := fs.String("otlp-service-name", "", "the traces' service.name (`NAME`; default tilgang)")
	ratio := fs.Float64("otlp-sample-ratio", 1, "the share (`RATIO`, 0 to 1) of the traces that start in tilgang to keep")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	tc := &telemetry.Config{OTLPEndpoint: *otlp, ServiceName: *service}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "otlp-sample-ratio" {
			tc.SampleRatio = ratio
		}
	})
	var bad []string
	tc.Check(func(field, format string, args ...any) {
		bad = append(bad, "--otlp-"+strings.ReplaceAll(strings.TrimPrefix(field, "otlp_"), "_", "-")+": "+fmt.Sprintf(format, args...))
	})
	if len(bad) > 0 {
		return usagef(cmd, "%s", strings.Join(bad, "; "))
	}
	var oidc *portal.OIDC
	if *issuer != "" {
		secret := os.Getenv(*secretEnv)
		if secret == "" {
			return usagef(cmd, "--oidc-issuer needs the client secret in the environment variable %s (--oidc-client-secret-env)", *secretEnv)
		}
		oidc = &portal.OIDC{Issuer: *issuer, ClientID: *clientID, ClientSecret: secret, PersonClaim: *claim}
	}
	keyFile, err := filepath.Abs(filepath.Join(*data, "keys", principals.DevSeedFile))
	if err != nil {
		return err
	}
	boundDevMemory()
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tp, err := telemetry.New(e.ctx, tc, "dev")
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("dev: telemetry: %v", err)}
	}
	if tp != nil {
		log.Info("telemetry: exporting traces", "otlp_endpoint", tc.OTLPEndpoint)
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("telemetry: the last spans were not exported", "err", err)
			}
		}()
	}
	return app.Dev(e.ctx, app.DevOptions{
		Data: *data, Policies: *policies, NATSListen: *listen, HTTP: *httpAddr, Log: log, OIDC: oidc, SMTP: *smtpAddr, Telemetry: tp,
		Reminders: &engine.Reminders{RemindAfter: *remind, EscalateAfter: *escalate},
		Ready: func(natsURL, httpAddr string) {
			fmt.Fprintf(e.Stdout, "tilgang dev: NATS %s, portal and health http://%s\n", natsURL, httpAddr)
			fmt.Fprintf(e.Stdout, "export %s=%s %s=%s\n", envNATS, natsURL, envKey, keyFile)
		},
	})
}

func runWorker(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	config := fs.String("config", "", "worker config `FILE` (YAML)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *config == "" {
		return usagef(cmd, "--config FILE is required")
	}
	return runWorkerConfig(e, *config)
}

func runNotYet(e *env, cmd *command, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintf(e.Stdout, "usage: tilgang %s\n\n%s\n", cmd.usage, cmd.summary)
		return errHelpShown
	}
	return notAvailable("`tilgang " + cmd.name + "`")
}

func runPolicyCheck(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	pos, err := e.parse(cmd, fs, args, 0, 1)
	if err != nil {
		return err
	}
	dir := "policies"
	if len(pos) == 1 {
		dir = pos[0]
	}
	cat, err := policy.Load(dir, nil)
	var le *policy.LoadError
	if err != nil && !errors.As(err, &le) {
		return err
	}
	if e.g.output == outputJSON {
		type problem struct {
			File string `json:"file"`
			Line int    `json:"line,omitempty"`
			Msg  string `json:"msg"`
		}
		out := struct {
			OK        bool      `json:"ok"`
			Systems   int       `json:"systems"`
			Catalogue string    `json:"catalogue,omitempty"`
			Problems  []problem `json:"problems"`
		}{OK: err == nil, Problems: []problem{}}
		if cat != nil {
			out.Systems, out.Catalogue = len(cat.Systems), cat.Version
		}
		if le != nil {
			for _, p := range le.Problems {
				out.Problems = append(out.Problems, problem{p.File, p.Line, p.Msg})
			}
		}
		if werr := writeJSON(e.Stdout, out); werr != nil {
			return werr
		}
	} else if le != nil {
		for _, p := range le.Problems {
			fmt.Fprintln(e.Stdout, p.String())
		}
	} else {
		fmt.Fprintf(e.Stdout, "ok: %d systems, catalogue %s\n", len(cat.Systems), cat.Version)
	}
	if le != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s in %s", plural(len(le.Problems), "problem"), dir)}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
