package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ror-ikt/tilgang/internal/api"
)

// reportAccessCommand is the access register (DESIGN.md "Access reviews and
// the access register"): who held which role when, who asked and who
// approved, read from the ledger through the API (report.access).
var reportAccessCommand = &command{name: "report access", group: groupRead, run: runReportAccess,
	usage: "report access (--system ID | --person ID) [--at WHEN | --from YYYY-MM-DD --to YYYY-MM-DD] [--format table|csv|json]",
	summary: "the access register: who held which role of a system, or which roles a person held, at a time or over a period " +
		"(now without --at or --from/--to), with who asked and who approved"}

func runReportAccess(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	system := fs.String("system", "", "the register of the system with this `ID` (its administrators, operators and auditors)")
	person := fs.String("person", "", "the register of the person with this `ID` (the person, their manager, operators and auditors)")
	at := fs.String("at", "", "one time: an RFC 3339 time, or a date `WHEN` meaning any moment of that Oslo day (default now)")
	from := fs.String("from", "", "a period's first day, `YYYY-MM-DD` (with --to): every holding that overlapped it")
	to := fs.String("to", "", "a period's last day, `YYYY-MM-DD` (with --from), inclusive")
	format := fs.String("format", "", "output `FORMAT`: table, csv or json (default table; json with --output json)")
	_, err := e.parse(cmd, fs, args, 0, 0)
	if err != nil {
		return err
	}
	if *format, err = e.outputFormat(cmd, *format); err != nil {
		return err
	}
	switch {
	case *system != "" && *person != "":
		return usagef(cmd, "give --system ID or --person ID, not both: the register of a system or of a person")
	case *system == "" && *person == "":
		return usagef(cmd, "give --system ID or --person ID: the register of a system or of a person")
	case *system != "":
		if err := checkID(cmd, "--system", *system); err != nil {
			return err
		}
	default:
		if err := checkID(cmd, "--person", *person); err != nil {
			return err
		}
	}
	if _, _, err := api.AccessPeriod(*at, *from, *to, e.Now(), api.PeriodNames{At: "--at", From: "--from", To: "--to"}); err != nil {
		return usagef(cmd, "%s", err.Error())
	}
	// Page by page, each printed as it comes: a big system's years never
	// sit in memory, here or in the worker.
	out := &accessOut{listOut{w: e.Stdout, format: *format}}
	a := api.AccessArgs{System: *system, Person: *person, At: *at, From: *from, To: *to}
	var period string
	if err := e.withAPI(cmd, func(c *api.Client) error {
		if err := out.start(api.AccessCSVHeader); err != nil {
			return err
		}
		return c.AccessRegister(e.ctx, a, func(p api.AccessPage) error {
			period = p.String()
			return out.page(p)
		})
	}); err != nil {
		return err
	}
	if out.n == 0 && *format == "table" {
		whose := "system " + *system
		if *person != "" {
			whose = *person
		}
		fmt.Fprintf(e.Stderr, "no access held by %s %s that you may see\n", whose, period)
		return nil
	}
	return out.end()
}

// accessOut prints the register a page at a time: a table (aligned within
// a page), CSV with one header, or one JSON list of api.AccessEntry written
// as it grows.
type accessOut struct{ listOut }

func (o *accessOut) page(p api.AccessPage) error {
	switch o.format {
	case "json":
		return jsonItems(&o.listOut, p.Entries)
	case "csv":
		return o.csvRows(len(p.Entries), func(i int) []string { return api.AccessCSVRow(p.Entries[i], p.Names) })
	}
	if len(p.Entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	if o.n == 0 {
		fmt.Fprintln(tw, "PERSON\tNAME\tSYSTEM/ROLE\tGRANT\tFROM (OSLO)\tUNTIL (OSLO)\tREQUESTER\tAPPROVERS")
	}
	for _, e := range p.Entries {
		until := "(held)"
		if e.Until != nil {
			until = osloTime(*e.Until)
		}
		name := p.Names[e.Person]
		if name == e.Person {
			name = ""
		}
		printRow(tw, e.Person, dash(oneLine(name)), e.System+"/"+e.Role, e.GrantID, osloTime(e.From), until,
			dash(e.Requester), dash(strings.Join(e.Approvers, ",")))
		o.n++
	}
	return tw.Flush()
}
