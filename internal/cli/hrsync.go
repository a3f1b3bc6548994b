package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/hrsource"
)

// syncReport is what `hr sync` reports: DESIGN.md's summary, then what
// became of the events sent and every rejection by person.
type syncReport struct {
	hrsource.Summary
	DryRun     bool               `json:"dry_run,omitempty"`
	Sent       int                `json:"sent"`
	Accepted   int                `json:"accepted"`
	Ignored    int                `json:"ignored"`
	Unknown    int                `json:"not_processed"` // not processed before --wait ran out
	Rejections []syncRejection    `json:"rejections"`
	Warnings   []hrsource.Warning `json:"warnings"`
}

// syncRejection is one person not taken: by the read (the record keeps its
// previous state) or by the worker (the event sent was rejected).
type syncRejection struct {
	Person    string `json:"person"`
	By        string `json:"by"` // read | worker
	Kind      string `json:"kind,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Reason    string `json:"reason"`
}

func runHRSync(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	typ := fs.String("type", "", "the source `TYPE`: "+strings.Join(sourceTypes(), ", "))
	file := fs.String("file", "", "read the snapshot from `FILE` (- for stdin): stamdata3, json, csv")
	url := fs.String("url", "", "read the snapshot from the service at base `URL`: visma-hrm, fint")
	name := fs.String("source", "", "the source's `NAME`, whose last snapshot the ledger keeps (default: the type)")
	municipality := fs.String("municipality", "", "the municipality `NUMBER` (kommunenummer) the source's ids are prefixed with: stamdata3, visma-hrm, fint, csv")
	dry := fs.Bool("dry-run", false, "read and compare, print what would be sent, send nothing")
	allow := fs.Bool("allow-changes", false, "send a plan the fail-safe holds (a principal with both hr and operator; the worker checks)")
	wait := fs.Duration("wait", 10*time.Minute, "follow the worker processing the events for up to this `DURATION` (0: only publish)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *typ == "" {
		if *name != "" {
			return usagef(cmd, "--source %s alone names a configured source (hr_sources: in a worker config), which this build cannot read yet: pass --type TYPE with --file or --url", *name)
		}
		return usagef(cmd, "--type is required")
	}
	if (*file == "") == (*url == "") {
		return usagef(cmd, "give exactly one of --file and --url")
	}
	src := firstOf(*name, *typ)
	if !tilgang.ValidToken(src) {
		return usagef(cmd, "source name %q is not a name: use letters, digits, '-' and '_'", src)
	}
	cfg, err := hrsource.Types.New(*typ)
	if err != nil {
		return usagef(cmd, "--type: %v", err)
	}
	adHoc(cfg, *municipality, *url)
	source, err := cfg.Open()
	if err != nil {
		return fmt.Errorf("source %s: %w", src, err)
	}
	today := tilgang.DateOf(e.Now())
	in := hrsource.Input{Today: today, BaseURL: *url}
	if *file != "" {
		data, err := e.readFile(*file)
		if err != nil {
			return err
		}
		in.File = bytes.NewReader(data)
	}
	snap, err := source.Read(e.ctx, in)
	if err != nil {
		return fmt.Errorf("read source %s: %w: nothing was sent", src, err)
	}
	if !snap.Complete {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("read source %s: the snapshot is incomplete: nothing was sent", src)}
	}

	id, err := e.identity(cmd, true)
	if err != nil {
		return err
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	c := e.client(nc, id)
	kept, err := c.HRSnapshotAll(e.ctx, src)
	if err != nil {
		return fmt.Errorf("read the snapshot the ledger keeps of %s: %w: nothing was sent", src, err)
	}
	prev := make(map[string]hrsource.Stored, len(kept))
	for _, k := range kept {
		prev[k.Person] = hrsource.Stored{Person: k.Record, Version: k.Version}
	}
	// Versions grow with the clock, as hr import's: above any version an
	// earlier sync or import gave.
	next := e.Now().UnixMilli()
	plan := hrsource.Diff(prev, snap, hrsource.FailSafe{Today: today, Next: func() int64 { next++; return next }})
	rep := syncReport{Summary: plan.Summary(src, len(snap.People)), DryRun: *dry, Rejections: []syncRejection{},
		Warnings: append([]hrsource.Warning{}, plan.Warnings...)}
	for _, r := range plan.Rejected {
		rep.Rejections = append(rep.Rejections, syncRejection{Person: r.PersonID, By: "read", Reason: r.Reason})
	}

	if *dry {
		if err := e.printSync(rep, false); err != nil {
			return err
		}
		if plan.Held {
			return &exitError{code: exitFailed, msg: "the fail-safe would hold this sync: " + strings.Join(plan.Reasons, "; ")}
		}
		return nil
	}
	if plan.Held {
		if !*allow {
			var res api.HRSyncResult
			announceErr := c.Call(e.ctx, api.MethodHRSyncHeld, api.HRSyncArgs{Summary: rep.Summary}, &res)
			if err := e.printSync(rep, false); err != nil {
				return err
			}
			msg := fmt.Sprintf("held: nothing was sent: %s; a principal with both hr and operator may send it with --allow-changes",
				strings.Join(plan.Reasons, "; "))
			if announceErr != nil {
				msg += fmt.Sprintf(" (announcing the hold failed: %v)", announceErr)
			}
			return &exitError{code: exitFailed, msg: msg}
		}
		var res api.HRSyncResult
		if err := c.Call(e.ctx, api.MethodHRSyncAllow, api.HRSyncArgs{Summary: rep.Summary}, &res); err != nil {
			if tilgang.KindOf(err) == tilgang.Denied {
				return &exitError{code: exitFailed, msg: fmt.Sprintf("--allow-changes refused: %s: nothing was sent", trimAPI(err))}
			}
			return fmt.Errorf("allow the held changes of %s: %w: nothing was sent", src, err)
		}
		fmt.Fprintf(e.Stderr, "the fail-safe held this sync (%s); its changes are allowed by %s\n", strings.Join(plan.Reasons, "; "), id.actor)
	}

	msgs := make([]*outMsg, len(plan.Events))
	for i, ev := range plan.Events {
		m, err := e.buildAs(id, hrsource.EnvelopeSource(src), hrsource.EventID(src, ev.Person.ID, ev.Version),
			ev.Kind.EventType(), ev.Person.ID, ev.Data())
		if err != nil {
			return fmt.Errorf("%s %s: %w: nothing was sent", ev.Kind, ev.Person.ID, err)
		}
		msgs[i] = m
	}
	n, err := e.publishAll(nc, msgs)
	rep.Sent = n
	if err != nil {
		return fmt.Errorf("sent %d of %d events, then: %w", n, len(msgs), err)
	}
	var followErr error
	if *wait > 0 && len(msgs) > 0 {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.requestID
		}
		sts, err := e.follow(c, ids, *wait)
		followErr = err
		for i, st := range sts {
			switch st.Outcome {
			case "accepted":
				rep.Accepted++
			case "ignored":
				rep.Ignored++
			case "rejected":
				ev := plan.Events[i]
				rep.Rejections = append(rep.Rejections, syncRejection{Person: ev.Person.ID, By: "worker", Kind: string(ev.Kind),
					RequestID: st.RequestID, Reason: st.Why})
			default:
				rep.Unknown++
			}
		}
	}
	if err := e.printSync(rep, *wait > 0 && len(msgs) > 0); err != nil {
		return err
	}
	workerRejected := len(rep.Rejections) - len(plan.Rejected)
	switch {
	case followErr != nil:
		return fmt.Errorf("follow the sync (%d of %d events not known yet): %w", rep.Unknown, len(msgs), followErr)
	case workerRejected > 0:
		return &exitError{code: exitFailed, msg: fmt.Sprintf("the worker rejected %d of %d events", workerRejected, len(msgs))}
	case rep.Unknown > 0:
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%d events were not processed within %s", rep.Unknown, *wait)}
	}
	return nil
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
