package cli

import (
	"encoding/csv"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// reconcileCommand is `tilgang reconcile` (DESIGN.md "Reconciliation").
var reconcileCommand = &command{name: "reconcile", group: groupRead, run: runReconcile,
	usage: "reconcile (--system ID | --connector NAME | --all) [--fix] [--allow-removals N] [--format table|csv|json]",
	summary: "compare what the ledger says each person should have with what the targets have; a dry run unless --fix " +
		"(operators; auditors may run a dry run)"}

func runReconcile(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	system := fs.String("system", "", "reconcile the system `ID` (every connector instance of it that can list)")
	connector := fs.String("connector", "", "reconcile connector instance `NAME` for every system provisioned through it")
	all := fs.Bool("all", false, "reconcile every system")
	fix := fs.Bool("fix", false, "fix what the systems' reconcile: settings allow, as ordinary operations, and wait for them")
	allow := fs.Int("allow-removals", 0, "let a run with up to `N` removals (revokes and disables) through the threshold")
	format := fs.String("format", "table", "`table`, csv or json (--output json is json too)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*system != "", *connector != "", *all} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usagef(cmd, "give exactly one of --system, --connector and --all")
	}
	if *allow < 0 {
		return usagef(cmd, "--allow-removals %d is negative", *allow)
	}
	if *allow > 0 && !*fix {
		return usagef(cmd, "--allow-removals is for a run with --fix: a dry run removes nothing")
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef(cmd, "--format %q is not one of table, csv, json", *format)
	}
	if e.g.output == outputJSON {
		*format = "json"
	}
	var reps []reconcile.Report
	err := e.withAPI(cmd, func(c *api.Client) error {
		c.Timeout = 2 * time.Minute
		return c.Call(e.ctx, api.MethodReconcile, api.ReconcileArgs{System: *system, Connector: *connector, All: *all,
			Fix: *fix, AllowRemovals: *allow}, &reps)
	})
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		var v any = reps
		if !*all && len(reps) == 1 {
			v = reps[0]
		}
		if err := writeJSON(e.Stdout, v); err != nil {
			return err
		}
	case "csv":
		w := csv.NewWriter(e.Stdout)
		_ = w.Write([]string{"system", "kind", "person", "account", "entitlement", "fix", "connector", "detail", "outcome"})
		for _, r := range reps {
			for _, f := range r.Findings {
				_ = w.Write(csvsafe.Row([]string{r.System, string(f.Kind), f.Person, f.Account, f.Entitlement, string(f.Fix),
					f.Connector, f.Detail, f.Outcome}))
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	default:
		for _, r := range reps {
			printReconcile(e, r, *fix)
		}
	}
	var bad []string
	for _, r := range reps {
		switch {
		case r.Error != "":
			bad = append(bad, fmt.Sprintf("%s: %s", r.System, r.Error))
		case r.Held:
			bad = append(bad, fmt.Sprintf("%s: held: %s", r.System, r.HeldWhy))
		case *fix && !r.Fixed:
			bad = append(bad, fmt.Sprintf("%s: not every fix is done (see the outcomes)", r.System))
		}
	}
	if len(bad) > 0 {
		return &exitError{code: exitFailed, msg: strings.Join(bad, "; ")}
	}
	return nil
}

func printReconcile(e *env, r reconcile.Report, fix bool) {
	mode := "dry run, nothing changed"
	switch {
	case r.Held:
		mode = "held, nothing changed"
	case fix && r.Fixed:
		mode = "fixed"
	case fix:
		mode = "fixes planned"
	}
	fmt.Fprintf(e.Stdout, "system %s: read %d accounts, %d members: %s (%s)\n", termSafe(r.System), r.Read.Accounts, r.Read.Members,
		reconcile.Summary(r), mode)
	if len(r.Skipped) > 0 {
		fmt.Fprintf(e.Stdout, "  not read (cannot list): %s\n", termSafe(strings.Join(r.Skipped, ", ")))
	}
	if r.Error != "" {
		fmt.Fprintf(e.Stdout, "  failed: %s\n", oneLine(r.Error))
	}
	if r.Held {
		fmt.Fprintf(e.Stdout, "  held: %s\n", oneLine(r.HeldWhy))
	}
	if len(r.Findings) == 0 {
		return
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tPERSON\tACCOUNT\tENTITLEMENT\tFIX\tDETAIL\tOUTCOME")
	for _, f := range r.Findings {
		fx := string(f.Fix)
		if fx == "" {
			fx = "report"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Kind, termSafe(dash(f.Person)), termSafe(dash(f.Account)),
			termSafe(dash(f.Entitlement)), fx, oneLine(f.Detail), oneLine(dash(f.Outcome)))
	}
	_ = tw.Flush()
}
