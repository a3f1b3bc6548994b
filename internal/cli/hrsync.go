package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// syncReport is what `hr sync` reports (hrsync.Report).
type syncReport = hrsync.Report

func runHRSync(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	typ := fs.String("type", "", "the source `TYPE`: "+strings.Join(sourceTypes(), ", "))
	file := fs.String("file", "", "read the snapshot from `FILE` (- for stdin): stamdata3, json, csv")
	url := fs.String("url", "", "read the snapshot from the service at base `URL`: visma-hrm, fint")
	name := fs.String("source", "", "the source's `NAME`, whose last snapshot the ledger keeps (default: the type); alone, a source of the worker config (--config)")
	caFile := fs.String("ca-file", "", "trust the CA certificates in `FILE` too, for --url")
	cfgPath := fs.String("config", "", "the worker config `FILE` whose hr_sources: names the --source (env "+envConfig+")")
	municipality := fs.String("municipality", "", "the municipality `NUMBER` (kommunenummer) the source's ids are prefixed with: stamdata3, visma-hrm, fint, csv")
	days := fs.Int("days-before-start", hrsync.DefaultDaysBeforeStart, "send a future joiner this many `DAYS` before their first start (-1: at once)")
	dry := fs.Bool("dry-run", false, "read and compare, print what would be sent, send nothing")
	allow := fs.Bool("allow-changes", false, "send a plan the fail-safe holds (a principal with both hr and operator; the worker checks)")
	wait := fs.Duration("wait", 10*time.Minute, "follow the worker processing the events for up to this `DURATION` (0: only publish)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	daysSet := false
	fs.Visit(func(f *flag.Flag) { daysSet = daysSet || f.Name == "days-before-start" })
	o := hrsync.Options{DryRun: *dry, Allow: *allow, Wait: *wait, Now: e.Now, DaysBeforeStart: *days}
	var fromConfig *config.HRSource
	if *typ == "" {
		if *name == "" {
			return usagef(cmd, "give --source NAME (a source of the worker config) or --type TYPE with --file or --url")
		}
		if *file != "" || *url != "" {
			return usagef(cmd, "--file and --url go with --type; a configured source reads what its config says")
		}
		path := firstOf(*cfgPath, e.Getenv(envConfig))
		if path == "" {
			return usagef(cmd, "--source %s alone names a source of a worker config's hr_sources: pass --config FILE (or set %s), or give --type TYPE with --file or --url", *name, envConfig)
		}
		cfg, err := config.Load(path, config.DefaultRegistry())
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("%s is not a valid config:\n%v", path, err)}
		}
		src, ok := cfg.HRSources[*name]
		if !ok {
			return usagef(cmd, "%s has no hr_sources.%s", path, *name)
		}
		fromConfig = src
		o.Name = *name
		if o.Source, err = src.Config.Open(); err != nil {
			return fmt.Errorf("source %s: %w", *name, err)
		}
		o.MaxLeaveShare, o.MaxChangeShare = src.FailSafe.MaxLeaveShare, src.FailSafe.MaxChangeShare
		if !daysSet {
			o.DaysBeforeStart = src.Days()
		}
		if src.File != "" {
			*file = src.File
		} else if o.Input.Client, err = src.HTTPClient(); err != nil {
			return fmt.Errorf("source %s: ca_file: %w", *name, err)
		}
	} else {
		if (*file == "") == (*url == "") {
			return usagef(cmd, "give exactly one of --file and --url")
		}
		o.Name = firstOf(*name, *typ)
		if !tilgang.ValidToken(o.Name) {
			return usagef(cmd, "source name %q is not a name: use letters, digits, '-' and '_'", o.Name)
		}
		cfg, err := hrsource.Types.New(*typ)
		if err != nil {
			return usagef(cmd, "--type: %v", err)
		}
		adHoc(cfg, *municipality, *url)
		if o.Source, err = cfg.Open(); err != nil {
			return fmt.Errorf("source %s: %w", o.Name, err)
		}
		o.Input.BaseURL = *url
		if *url != "" {
			if o.Input.Client, err = (&config.HRSource{CAFile: *caFile}).HTTPClient(); err != nil {
				return usagef(cmd, "--ca-file: %v", err)
			}
		} else if *caFile != "" {
			return usagef(cmd, "--ca-file goes with --url")
		}
	}
	o.Input.Today = tilgang.DateOf(e.Now())
	if *file != "" {
		data, err := e.readFile(*file)
		if err != nil {
			return err
		}
		o.Input.File = bytes.NewReader(data)
	}

	var id *identity
	if fromConfig != nil && e.g.key == "" {
		// The source's own key, unless the command is given one.
		kp, err := principals.LoadSeed(fromConfig.Key)
		if err != nil {
			return err
		}
		id = &identity{kp: kp, actor: fromConfig.Actor(), signer: fromConfig.Actor(), file: fromConfig.Key}
	} else {
		var err error
		if id, err = e.identity(cmd, true); err != nil {
			return err
		}
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	o.NC, o.Client, o.Key, o.Actor, o.Via = nc, e.client(nc, id), id.kp, id.actor, id.via
	bars := map[string]*progress{}
	o.Progress = func(stage string, done, total int) {
		p := bars[stage]
		if p == nil {
			p = e.progress(stage, total)
			bars[stage] = p
		}
		if done == total {
			p.finish(done)
		} else {
			p.set(done)
		}
	}
	ctx, err := e.traced()
	if err != nil {
		return err
	}
	rep, err := hrsync.Run(ctx, o)
	if rep.Source == "" {
		return err // nothing was read or planned
	}
	followed := !*dry && *wait > 0 && rep.Sent > 0
	if perr := e.printSync(rep, followed); perr != nil {
		return perr
	}
	switch {
	case err == nil:
		if rep.Held && *allow {
			fmt.Fprintf(e.Stderr, "the fail-safe held this sync (%s); its changes are allowed by %s\n", strings.Join(rep.Reasons, "; "), id.actor)
		}
		return nil
	case errors.Is(err, hrsync.ErrHeld), errors.Is(err, hrsync.ErrRefused):
		msg := err.Error()
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, hrsync.ErrHeld.Error()+": "), hrsync.ErrRefused.Error()+": ")
		return &exitError{code: exitFailed, msg: msg}
	case rep.Sent > 0 && rep.WorkerRejected()+rep.Unknown > 0:
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	return err
}

func sourceTypes() []string {
	return []string{hrsource.VismaType, hrsource.Stamdata3Type, hrsource.FINTType, hrsource.JSONType, hrsource.CSVType}
}

// adHoc gives an ad hoc source its municipality number and, for a
// service, its base URL.
func adHoc(cfg hrsource.Config, municipality, url string) {
	switch c := cfg.(type) {
	case *hrsource.Stamdata3Config:
		c.Municipality = firstOf(municipality, c.Municipality)
	case *hrsource.VismaConfig:
		c.Municipality, c.BaseURL = firstOf(municipality, c.Municipality), firstOf(url, c.BaseURL)
	case *hrsource.FINTConfig:
		c.Municipality, c.BaseURL = firstOf(municipality, c.Municipality), firstOf(url, c.BaseURL)
	case *hrsource.CSVConfig:
		c.Municipality = firstOf(municipality, c.Municipality)
	}
}

// trimAPI is the worker's message of err without the "api: " prefix.
func trimAPI(err error) string {
	var te *tilgang.Error
	if errors.As(err, &te) {
		return strings.TrimPrefix(te.Message, "api: ")
	}
	return err.Error()
}

func (e *env) printSync(r syncReport, followed bool) error {
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, r)
	}
	s := r.Summary
	verb := "to send"
	if r.DryRun {
		verb = "would send"
	}
	fmt.Fprintf(e.Stdout, "source %s: %d people: %s %d joiners, %d movers, %d leavers; %d unchanged, %d rejected\n",
		termSafe(s.Source), s.People, verb, s.Joiners, s.Movers, s.Leavers, s.Unchanged, s.Rejected)
	if r.Later > 0 {
		fmt.Fprintf(e.Stdout, "%d future joiners are sent later, nearer their start\n", r.Later)
	}
	if s.Held {
		fmt.Fprintf(e.Stdout, "held: %s\n", oneLine(strings.Join(s.Reasons, "; ")))
	}
	if followed {
		line := fmt.Sprintf("sent %d: accepted %d, rejected %d, ignored %d", r.Sent, r.Accepted, len(r.Rejections)-s.Rejected, r.Ignored)
		if r.Unknown > 0 {
			line += fmt.Sprintf(", not processed yet %d", r.Unknown)
		}
		fmt.Fprintln(e.Stdout, line)
	} else if r.Sent > 0 {
		fmt.Fprintf(e.Stdout, "sent %d\n", r.Sent)
	} else if !r.DryRun && !s.Held && s.Joiners+s.Movers+s.Leavers == 0 {
		fmt.Fprintln(e.Stdout, "nothing to send")
	}
	for _, rj := range r.Rejections {
		what := "rejected by the read"
		if rj.By == "worker" {
			what = fmt.Sprintf("rejected by the worker (%s, request %s)", rj.Kind, termSafe(rj.RequestID))
		}
		fmt.Fprintf(e.Stdout, "%s: %s: %s\n", what, termSafe(firstOf(rj.Person, "(no id)")), oneLine(rj.Reason))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(e.Stderr, "warning: %s: %s\n", termSafe(w.PersonID), oneLine(w.Message))
	}
	return nil
}

// envConfig names the worker config `hr sync --source NAME` reads.
const envConfig = "TILGANG_CONFIG"
