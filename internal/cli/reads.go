package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// call makes one API call as the command's identity.
func (e *env) call(cmd *command, method string, args, out any) error {
	return e.withAPI(cmd, func(c *api.Client) error { return c.Call(e.ctx, method, args, out) })
}

// withAPI runs f with an API client signing as the command's identity,
// connected for as long as f runs.
func (e *env) withAPI(cmd *command, f func(c *api.Client) error) error {
	id, err := e.identity(cmd, false)
	if err != nil {
		return err
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	return f(e.client(nc, id))
}

func (e *env) printStatus(st api.Status) error {
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, st)
	}
	fmt.Fprintf(e.Stdout, "%s %s %s\n", termSafe(st.RequestID), termSafe(dash(st.GrantID)), termSafe(st.State))
	if st.Why != "" {
		fmt.Fprintf(e.Stderr, "why: %s\n", oneLine(st.Why))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is s on one line, safe for a terminal (see termSafe).
func oneLine(s string) string {
	return termSafe(strings.Join(strings.Fields(s), " "))
}

func runStatus(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	if !envelope.IsRequestID(pos[0]) {
		return usagef(cmd, "REQUEST_ID %q is not a request id: 64 lower-case hex digits, as `tilgang request` prints", pos[0])
	}
	var st api.Status
	if err := e.call(cmd, api.MethodStatus, api.StatusArgs{RequestID: pos[0]}, &st); err != nil {
		return err
	}
	return e.printStatus(st)
}

func runGrants(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "the grants of the person with this `ID`")
	system := fs.String("system", "", "the grants in the system with this `ID`")
	open := fs.Bool("open", false, "only grants that are not final (not denied, revoked, cancelled or expired)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *person == "" && *system == "" {
		return usagef(cmd, "give --person ID or --system ID (or both)")
	}
	if *person != "" {
		if err := checkID(cmd, "--person", *person); err != nil {
			return err
		}
	}
	if *system != "" {
		if err := checkID(cmd, "--system", *system); err != nil {
			return err
		}
	}
	var gs []api.Grant
	err := e.withAPI(cmd, func(c *api.Client) (err error) {
		gs, err = c.GrantsAll(e.ctx, api.GrantsArgs{Person: *person, System: *system, OpenOnly: *open})
		return err
	})
	if err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, gs)
	}
	if len(gs) == 0 {
		fmt.Fprintln(e.Stderr, "no grants that you may see")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tPERSON\tSYSTEM\tROLE\tSTATE\tVALID_UNTIL\tREQUESTER\tAPPROVERS\tUPDATED")
	for _, g := range gs {
		state := g.State
		if g.WaitingFor != "" {
			state += " (" + g.WaitingFor + ")"
		}
		printRow(tw, g.ID, g.Person, g.System, g.Role, state,
			dash(g.ValidUntil.String()), dash(g.Requester), dash(strings.Join(g.Approvers, ",")), osloTime(g.Updated))
	}
	return tw.Flush()
}

func osloTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(tilgang.Oslo).Format("2006-01-02 15:04:05")
}

var auditHeader = api.AuditCSVHeader

// outputFormat checks a --format of table, csv or json; none is json with
// --output json, else table.
func (e *env) outputFormat(cmd *command, format string) (string, error) {
	switch format {
	case "":
		if e.g.output == outputJSON {
			return "json", nil
		}
		return "table", nil
	case "table", "csv", "json":
		return format, nil
	}
	return "", usagef(cmd, "--format %q must be table, csv or json", format)
}

func runAudit(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "only rows about the person with this `ID`")
	system := fs.String("system", "", "only rows about the system with this `ID`")
	since := fs.String("since", "", "only rows from 00:00 Oslo time on this date: `YYYY-MM-DD`")
	format := fs.String("format", "", "output `FORMAT`: table, csv or json (default table; json with --output json)")
	_, err := e.parse(cmd, fs, args, 0, 0)
	if err != nil {
		return err
	}
	if *format, err = e.outputFormat(cmd, *format); err != nil {
		return err
	}
	if *person != "" {
		if err := checkID(cmd, "--person", *person); err != nil {
			return err
		}
	}
	if *system != "" {
		if err := checkID(cmd, "--system", *system); err != nil {
			return err
		}
	}
	if *since != "" {
		if _, err := tilgang.ParseDate(*since); err != nil {
			return usagef(cmd, "--since %q is not a date YYYY-MM-DD", *since)
		}
	}
	// Page by page, each printed as it comes: years of chain never sit in
	// memory, here or in the worker.
	out := &auditOut{listOut{w: e.Stdout, format: *format}}
	filter := api.AuditArgs{Person: *person, System: *system, Since: *since}
	if err := e.withAPI(cmd, func(c *api.Client) error {
		if err := out.start(auditHeader); err != nil {
			return err
		}
		return c.Audit(e.ctx, filter, out.page)
	}); err != nil {
		return err
	}
	if out.n == 0 && *format == "table" {
		fmt.Fprintln(e.Stderr, "no audit rows that you may see")
		return nil
	}
	return out.end()
}

// auditOut prints audit rows a page at a time: a table (aligned within a
// page), CSV with one header, or one JSON list written as it grows, the
// same bytes as the whole list encoded at once.
type auditOut struct{ listOut }

func (o *auditOut) page(rows []api.AuditRow) error {
	switch o.format {
	case "json":
		return jsonItems(&o.listOut, rows)
	case "csv":
		return o.csvRows(len(rows), func(i int) []string { return api.AuditCSVRow(rows[i]) })
	}
	if len(rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	if o.n == 0 {
		fmt.Fprintln(tw, "SEQ\tAT (OSLO)\tKIND\tPERSON\tACTOR\tSYSTEM/ROLE\tGRANT\tCHANGE\tTEXT")
	}
	for _, r := range rows {
		actor := r.Actor
		if r.Via != "" {
			actor += " via " + r.Via
		}
		sr := r.System
		if r.Role != "" {
			sr += "/" + r.Role
		}
		change := ""
		if r.From != "" || r.To != "" {
			change = dash(r.From) + " -> " + dash(r.To)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, osloTime(r.At), r.Kind, dash(r.Person), dash(actor),
			dash(sr), dash(r.GrantID), dash(change), oneLine(r.Text))
		o.n++
	}
	return tw.Flush()
}

func runAuditVerify(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	var rep api.VerifyReport
	if err := e.call(cmd, api.MethodAuditVerify, nil, &rep); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		if err := writeJSON(e.Stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "rows %d\nhead %d %s\ngrants %d\nanchors %d\n", rep.Rows, rep.Head.Seq, rep.Head.Hash, rep.Grants, rep.Anchors)
		for _, why := range rep.Ignored {
			fmt.Fprintf(e.Stdout, "ignored anchor: %s\n", why)
		}
		fmt.Fprintf(e.Stdout, "ok %t\n", rep.OK)
		if rep.OK && rep.Problem != "" {
			fmt.Fprintf(e.Stdout, "%s\n", rep.Problem)
		}
		if !rep.OK {
			bad := "-"
			if rep.BadSeq > 0 {
				bad = strconv.FormatInt(rep.BadSeq, 10)
			}
			fmt.Fprintf(e.Stdout, "first bad row %s\nproblem %s\n", bad, rep.Problem)
		}
	}
	if !rep.OK {
		return &exitError{code: exitFailed, msg: "the audit chain does not verify: " + rep.Problem}
	}
	return nil
}

func runPolicyReload(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	var r api.ReloadResult
	if err := e.call(cmd, api.MethodPolicyReload, nil, &r); err != nil {
		return err
	}
	// Every replica that answered must hold the version now in force.
	var behind []string
	for _, rep := range r.Replicas {
		switch {
		case rep.Error != "":
			behind = append(behind, fmt.Sprintf("%s holds %s: %s", rep.Replica, shortVersion(rep.Version), oneLine(rep.Error)))
		case rep.Version != r.Version:
			behind = append(behind, fmt.Sprintf("%s holds %s", rep.Replica, shortVersion(rep.Version)))
		}
	}
	if e.g.output == outputJSON {
		if err := writeJSON(e.Stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "reloaded: catalogue %s\n", r.Version)
		if len(r.Replicas) > 0 {
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPLICA\tCATALOGUE\tINTAKE\tERROR")
			for _, rep := range r.Replicas {
				intake := "-"
				if rep.Intake {
					intake = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rep.Replica, dash(shortVersion(rep.Version)), intake, dash(oneLine(rep.Error)))
			}
			tw.Flush()
		}
	}
	if len(behind) > 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("catalogue %s is in force, but not every replica holds it: %s",
			shortVersion(r.Version), strings.Join(behind, "; "))}
	}
	return nil
}

func shortVersion(version string) string {
	if len(version) > 12 {
		return version[:12]
	}
	return version
}

func runTasks(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	system := fs.String("system", "", "only the tasks of the system with this `ID`: its grants' and the account work on its connectors")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *system != "" {
		if err := checkID(cmd, "--system", *system); err != nil {
			return err
		}
	}
	var ts []api.Task
	if err := e.call(cmd, api.MethodTasks, api.TasksArgs{System: *system}, &ts); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		if ts == nil {
			ts = []api.Task{}
		}
		return writeJSON(e.Stdout, ts)
	}
	if len(ts) == 0 {
		fmt.Fprintln(e.Stderr, "no manual tasks waiting that you may see")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATION\tPERSON\tSYSTEM/ROLE\tKIND\tENTITLEMENT\tWAITING SINCE")
	for _, t := range ts {
		printRow(tw, t.OperationID, t.Person, taskWhere(t), t.Kind, dash(oneLine(t.Entitlement)), osloTime(t.Since))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.Stderr, "when it is done: tilgang task done OPERATION [--comment TEXT] (or task failed)")
	return nil
}

// taskWhere is a task's SYSTEM/ROLE: account work has no grant, so it
// names the connector instance whose account it is.
func taskWhere(t api.Task) string {
	if t.System == "" {
		return "(account on " + t.Connector + ")"
	}
	return t.System + "/" + t.Role
}

func runGrantShow(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	grantID := pos[0]
	if err := checkID(cmd, "GRANT_ID", grantID); err != nil {
		return err
	}
	var g api.GrantDetail
	if err := e.call(cmd, api.MethodGrant, api.GrantArgs{GrantID: grantID}, &g); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, g)
	}
	state := g.State
	if g.WaitingFor != "" {
		state += " (waiting for " + g.WaitingFor + ")"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	for _, f := range [][2]string{
		{"grant", g.ID}, {"person", g.Person}, {"system", g.System}, {"role", g.Role}, {"state", state},
		{"request_id", dash(g.RequestID)}, {"requester", dash(g.Requester)}, {"approvers", dash(strings.Join(g.Approvers, ","))},
		{"valid_until", dash(g.ValidUntil.String())}, {"created", osloTime(g.Created)}, {"updated", osloTime(g.Updated)},
	} {
		printRow(tw, f[0], f[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout)
	if len(g.Operations) == 0 {
		fmt.Fprintln(e.Stdout, "operations: none")
		return nil
	}
	tw = tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tCONNECTOR\tENTITLEMENT\tSTATE\tATTEMPTS\tLAST ERROR")
	for _, o := range g.Operations {
		state := o.State
		if o.State == string(ledger.OpWaiting) {
			state = "waiting for a person: tilgang task done " + o.ID
		}
		printRow(tw, o.ID, o.Kind, o.Connector, dash(oneLine(o.Entitlement)), state, strconv.Itoa(o.Attempts), dash(oneLine(o.LastError)))
	}
	return tw.Flush()
}
