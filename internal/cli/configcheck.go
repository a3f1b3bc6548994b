package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// runConfigCheck is `tilgang config check --config FILE`: the worker's
// config with the connector types of this build, Validate, and then the
// principals file and the catalogue it names (checked against the
// configured connector instances), every problem at once. The config is
// printed with its secrets redacted, never in clear.
func runConfigCheck(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	file := fs.String("config", "", "worker config `FILE` (YAML)")
	targets := fs.Bool("targets", false, "also ask the connector instances that can (entra) whether the catalogue's entitlements exist and may be changed there")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return usagef(cmd, "--config FILE is required")
	}
	problems, cfg := checkConfig(e, *file)
	if *targets && cfg != nil && len(problems) == 0 {
		problems = append(problems, checkTargets(e, cfg)...)
	}
	if e.g.output == outputJSON {
		out := struct {
			OK       bool     `json:"ok"`
			Problems []string `json:"problems"`
			Config   string   `json:"config,omitempty"`
		}{OK: len(problems) == 0, Problems: append([]string{}, problems...)}
		if cfg != nil && len(problems) == 0 {
			out.Config = cfg.Redacted()
		}
		if err := writeJSON(e.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, p := range problems {
			fmt.Fprintln(e.Stdout, p)
		}
		if len(problems) == 0 {
			fmt.Fprint(e.Stdout, cfg.Redacted())
			fmt.Fprintln(e.Stdout, "ok")
		}
	}
	if len(problems) > 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s in %s", plural(len(problems), "problem"), *file)}
	}
	return nil
}

// checkConfig returns every problem, one a line, and the config when it
// decoded.
func checkConfig(e *env, file string) ([]string, *config.Config) {
	var out []string
	addErr := func(err error) {
		var ce *config.Error
		var le *policy.LoadError
		switch {
		case errors.As(err, &ce):
			for _, p := range ce.Problems {
				out = append(out, p.String())
			}
		case errors.As(err, &le):
			for _, p := range le.Problems {
				out = append(out, p.String())
			}
		default:
			out = append(out, strings.Split(err.Error(), "\n")...)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{file + ": cannot read the config file: " + describeFileError(err)}, nil
	}
	cfg, err := config.Parse(file, data, config.DefaultRegistry(), e.Getenv)
	if err != nil {
		addErr(err)
		return out, nil
	}
	var bad map[string]bool
	if err := cfg.Validate(); err != nil {
		addErr(err)
		bad = map[string]bool{}
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				bad[p.Path] = true
			}
		}
	}
	if !bad["principals"] {
		if _, err := principals.Load(cfg.Principals); err != nil {
			addErr(err)
		}
	}
	if !bad["policies"] {
		for _, p := range policy.Check(cfg.Policies, cfg.ConnectorNames()) {
			out = append(out, p.String())
		}
	}
	return out, cfg
}

func describeFileError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkTargets opens the connector instances that can look entitlements up
// and asks them about every entitlement the catalogue gives them.
func checkTargets(e *env, cfg *config.Config) []string {
	cat, err := policy.Load(cfg.Policies, cfg.ConnectorNames())
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, c := range cfg.ConnectorConfigs() {
		conn, err := c.Open(name, log)
		if err != nil {
			out = append(out, fmt.Sprintf("connectors.%s: %v", name, err))
			continue
		}
		checker, ok := conn.(connectors.Checker)
		if ok {
			for _, id := range cat.SystemIDs() {
				sys := cat.Systems[id]
				for _, r := range sys.Roles {
					for _, ent := range r.Entitlements[name] {
						warn, err := checker.CheckEntitlement(e.ctx, ent)
						if err != nil {
							warn = "cannot ask: " + err.Error()
						}
						if warn != "" {
							out = append(out, fmt.Sprintf("%s:%d: %s/%s: %s %q: %s", sys.File, r.Line, sys.ID, r.ID, name, ent, warn))
						}
					}
				}
			}
		}
		conn.Close()
	}
	return out
}
