package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
)

// eraseCommand is `tilgang erase` (DESIGN.md "Operations over years").
var eraseCommand = &command{name: "erase", group: groupRead, run: runErase,
	usage: "erase --before YYYY-MM-DD [--dry-run]",
	summary: "erase free text (reasons, comments) from before the date, and the HR records of people who left before it, " +
		"keeping ids and the chain (operators; the date at least retention.min back)"}

func runErase(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	before := fs.String("before", "", "erase what is older than 00:00 Oslo time on this date: `YYYY-MM-DD`, at least retention.min back")
	dry := fs.Bool("dry-run", false, "only count what would be erased; nothing changes")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *before == "" {
		return usagef(cmd, "--before is missing: the date (YYYY-MM-DD) to erase before")
	}
	if _, err := tilgang.ParseDate(*before); err != nil {
		return usagef(cmd, "--before %q is not a date YYYY-MM-DD", *before)
	}
	var r api.EraseResult
	// An erasure reads the whole chain: give it the minute the worker gives
	// a call, not a read's few seconds.
	err := e.withAPI(cmd, func(c *api.Client) error {
		c.Timeout = time.Minute
		return c.Call(e.ctx, api.MethodErase, api.EraseArgs{Before: *before, DryRun: *dry}, &r)
	})
	if err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, r)
	}
	if r.DryRun {
		fmt.Fprintf(e.Stdout, "dry run: erasing before %s would remove (nothing changed):\n", r.Before)
	} else {
		fmt.Fprintf(e.Stdout, "erased before %s, chained as an erasure entry:\n", r.Before)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	for _, c := range []struct {
		n    int64
		what string
	}{
		{r.Counts.Texts, "free texts of chain rows (reasons, comments)"},
		{r.Counts.Requests, "requests' reasons"},
		{r.Counts.Operations, "operations' last errors"},
		{r.Counts.Events, "published events"},
		{r.Counts.Snapshots, "HR snapshot rows of people who left"},
		{r.Counts.Persons, "person records of people who left"},
		{r.Counts.ReconcileRuns, "reconciliation runs (older than each system's last) and read errors"},
		{r.Counts.Traces, "trace contexts of messages whose operations have all run"},
	} {
		fmt.Fprintf(tw, "  %d\t%s\n", c.n, c.what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Counts.Listed > 0 {
		fmt.Fprintf(e.Stdout, "kept: %d people who left before %s but whom an HR source still lists (erased once it drops them)\n",
			r.Counts.Listed, r.Before)
	}
	return nil
}
