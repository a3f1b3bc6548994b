package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ror-ikt/tilgang/internal/api"
)

// runPlan is `tilgang plan`: a dry run through the worker's plan call. It
// prints, per role, what the policy would decide for the person now
// (eligible, conflicts, approval stages and who decides them, the end date
// if the grant became active today, training) and which operations would
// follow; it changes nothing.
func runPlan(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "plan for the person with this `ID`")
	system := fs.String("system", "", "only the role of the system with this `ID` (with --role)")
	role := fs.String("role", "", "only the role with this `ID` (with --system)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *person == "" {
		return usagef(cmd, "give --person ID")
	}
	if (*system == "") != (*role == "") {
		return usagef(cmd, "give --system and --role together, or neither")
	}
	for what, v := range map[string]string{"--person": *person, "--system": *system, "--role": *role} {
		if v != "" {
			if err := checkID(cmd, what, v); err != nil {
				return err
			}
		}
	}
	var res api.PlanResult
	if err := e.call(cmd, api.MethodPlan, api.PlanArgs{Person: *person, System: *system, Role: *role}, &res); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, res)
	}
	fmt.Fprintf(e.Stdout, "plan for %s at %s (catalogue %.12s); nothing is changed\n", res.Person, res.At, res.Catalogue)
	if res.Left {
		fmt.Fprintln(e.Stdout, "the person has left: every grant request would be denied")
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM/ROLE\tDECISION\tELIGIBLE\tAPPROVAL\tUNTIL\tTRAINING\tREQUESTABLE_BY\tBIRTHRIGHT\tOPERATIONS")
	for _, r := range res.Roles {
		d := r.Decision
		decision := "allowed"
		switch {
		case r.Open != "":
			decision = "attach to " + r.Open
		case !d.Allowed:
			decision = "denied (" + d.Rule + ")"
		}
		var stages []string
		for _, s := range r.Stages {
			stages = append(stages, s.Kind+":"+strings.Join(s.Who, "|"))
		}
		until := dash(d.End.String())
		if d.Shortened {
			until += " (shortened)"
		}
		training := "no"
		if d.RequiresTraining {
			training = "yes"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%t\t%s\t%s\t%s\t%s\t%s\t%s\n", r.System, r.Role, decision, d.Eligible,
			dash(strings.Join(stages, " then ")), until, training, dash(strings.Join(r.RequestableBy, ",")), dash(r.Birthright),
			dash(strings.Join(r.Operations, "; ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range res.Roles {
		if !r.Decision.Allowed && r.Decision.Reason != "" && (*system != "" || r.Decision.Rule == "conflicts") {
			fmt.Fprintf(e.Stdout, "%s/%s: %s\n", r.System, r.Role, oneLine(r.Decision.Reason))
		}
	}
	return nil
}
