package cli

import (
	"encoding/csv"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/review"
)

// Access reviews (DESIGN.md "Access reviews and the access register").
var reviewCommands = []*command{
	{name: "review start", group: groupRead, run: runReviewStart,
		usage:   "review start --system ID",
		summary: "start an access review campaign of a system under its review: policy (its administrators and operators); prints the campaign id"},
	{name: "review list", group: groupRead, run: runReviewList,
		usage:   "review list [--system ID] [--state open|closing|closed]",
		summary: "list the access review campaigns that you may see"},
	{name: "review show", group: groupRead, run: runReviewShow,
		usage:   "review show CAMPAIGN [--mine] [--format table|csv|json]",
		summary: "show a campaign's items and decisions; --format csv is the campaign report"},
	{name: "review decide", group: groupMsg, run: runReviewDecide,
		usage:   "review decide CAMPAIGN --person ID (--role ID | --grant GRANT_ID) keep|remove [--comment TEXT] [--wait DURATION]",
		summary: "keep or remove one person's access under review (a reviewer of the item)"},
	{name: "review close", group: groupRead, run: runReviewClose,
		usage:   "review close CAMPAIGN",
		summary: "close a campaign: removals, and unanswered items under if_no_response: remove, are revoked (administrators and operators at its end; operators before)"},
}

func init() {
	commands = append(commands[:len(commands)-1], append(reviewCommands, commands[len(commands)-1])...)
}

func runReviewStart(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	system := fs.String("system", "", "the system's `ID`")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if err := required(cmd, [2]string{"system", *system}); err != nil {
		return err
	}
	if err := checkID(cmd, "--system", *system); err != nil {
		return err
	}
	var st review.Started
	if err := e.withAPI(cmd, func(c *api.Client) error {
		c.Timeout = 2 * time.Minute
		return c.Call(e.ctx, api.MethodReviewStart, api.ReviewStartArgs{System: *system}, &st)
	}); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, map[string]string{"campaign_id": st.CampaignID})
	}
	fmt.Fprintln(e.Stdout, st.CampaignID)
	fmt.Fprintf(e.Stderr, "%d items to review in %s\n", st.Items, *system)
	return nil
}

func runReviewList(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	system := fs.String("system", "", "only campaigns of the system `ID`")
	state := fs.String("state", "", "only campaigns in `STATE`: open, closing or closed")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *system != "" {
		if err := checkID(cmd, "--system", *system); err != nil {
			return err
		}
	}
	switch *state {
	case "", "open", "closing", "closed":
	default:
		return usagef(cmd, "--state %q is not one of open, closing, closed", *state)
	}
	var cs []api.ReviewCampaign
	if err := e.withAPI(cmd, func(c *api.Client) error {
		return c.Call(e.ctx, api.MethodReviewList, api.ReviewListArgs{System: *system, State: *state}, &cs)
	}); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, cs)
	}
	if len(cs) == 0 {
		fmt.Fprintln(e.Stderr, "no review campaigns that you may see")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMPAIGN\tSYSTEM\tSTATE\tSTARTED\tENDS\tITEMS\tKEEP\tREMOVE\tACKNOWLEDGED\tOPEN")
	for _, c := range cs {
		printRow(tw, c.CampaignID, c.System, c.State, osloTime(c.StartedAt), osloTime(c.EndsAt), fmt.Sprint(c.Counts.Items),
			fmt.Sprint(c.Counts.Keep), fmt.Sprint(c.Counts.Remove), fmt.Sprint(c.Counts.Acknowledged), fmt.Sprint(c.Counts.Open))
	}
	return tw.Flush()
}

// ReportHeader is the campaign report's CSV header (review show --format csv).
var ReportHeader = []string{"person", "name", "role", "grant", "reviewers", "decision", "decided_by", "decided_at", "comment", "recommendation"}

// showItem is an item as `review show --output json` prints it (DESIGN.md).
type showItem struct {
	Person    string   `json:"person"`
	Role      string   `json:"role"`
	GrantID   string   `json:"grant_id"`
	Reviewers []string `json:"reviewers"`
	Decision  *string  `json:"decision"`
	DecidedBy string   `json:"decided_by"`
}

// reviewShowPage is how many items `review show` and `review decide --role`
// read a call; tests make it small to walk many pages.
var reviewShowPage = api.MaxReviewPage

func runReviewShow(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	mine := fs.Bool("mine", false, "only the items you review")
	format := fs.String("format", "", "output `FORMAT`: table, csv (the campaign report) or json (default table; json with --output json)")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := checkID(cmd, "CAMPAIGN", pos[0]); err != nil {
		return err
	}
	if *format, err = e.outputFormat(cmd, *format); err != nil {
		return err
	}
	var show api.ReviewShow
	if err := e.withAPI(cmd, func(c *api.Client) error {
		c.Timeout = 2 * time.Minute
		// A page at a time, so that a campaign of any size is shown whole.
		show, err = c.ReviewShowAll(e.ctx, api.ReviewShowArgs{CampaignID: pos[0], Mine: *mine, Limit: reviewShowPage})
		return err
	}); err != nil {
		return err
	}
	switch *format {
	case "json":
		items := make([]showItem, 0, len(show.Items))
		for _, it := range show.Items {
			items = append(items, showItem{Person: it.Person, Role: it.Role, GrantID: it.GrantID, Reviewers: it.Reviewers,
				Decision: it.Decision, DecidedBy: it.DecidedBy})
		}
		return writeJSON(e.Stdout, struct {
			CampaignID string     `json:"campaign_id"`
			System     string     `json:"system"`
			State      string     `json:"state"`
			Items      []showItem `json:"items"`
		}{show.CampaignID, show.System, show.State, items})
	case "csv":
		w := csv.NewWriter(e.Stdout)
		_ = w.Write(ReportHeader)
		for _, it := range show.Items {
			decidedAt := ""
			if it.DecidedAt != nil {
				decidedAt = it.DecidedAt.UTC().Format(time.RFC3339)
			}
			_ = w.Write(csvsafe.Row([]string{it.Person, it.Name, it.Role, it.GrantID, strings.Join(it.Reviewers, " "), deref(it.Decision),
				it.DecidedBy, decidedAt, it.Comment, it.Recommendation}))
		}
		w.Flush()
		return w.Error()
	}
	fmt.Fprintf(e.Stdout, "campaign %s  system %s  %s  started %s  ends %s  if no response: %s\n", termSafe(show.CampaignID),
		termSafe(show.System), show.State, osloTime(show.StartedAt), osloTime(show.EndsAt), show.IfNoResponse)
	fmt.Fprintf(e.Stdout, "%d items: %d keep, %d remove, %d acknowledged, %d open\n\n", show.Counts.Items, show.Counts.Keep,
		show.Counts.Remove, show.Counts.Acknowledged, show.Counts.Open)
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tNAME\tROLE\tGRANT\tREVIEWERS\tDECISION\tDECIDED_BY\tRECOMMENDATION\tOUTCOME")
	for _, it := range show.Items {
		d := deref(it.Decision)
		if it.Birthright && d == "" {
			d = "(acknowledge)"
		}
		printRow(tw, it.Person, dash(it.Name), it.Role, it.GrantID, strings.Join(it.Reviewers, ","), dash(d), dash(it.DecidedBy),
			it.Recommendation, dash(it.Outcome))
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func runReviewDecide(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "the `ID` of the person whose access is reviewed")
	role := fs.String("role", "", "the role `ID` under review")
	grant := fs.String("grant", "", "the `GRANT_ID` under review (instead of --role)")
	comment := fs.String("comment", "", "a `TEXT` recorded with the decision (required when the system's review: asks for justification)")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record the decision and print the status (0: do not wait)")
	pos, err := e.parse(cmd, fs, args, 2, 2)
	if err != nil {
		return err
	}
	campaign, decision := pos[0], pos[1]
	if decision != tilgang.ReviewKeep && decision != tilgang.ReviewRemove {
		// Either order: CAMPAIGN keep|remove or keep|remove CAMPAIGN.
		campaign, decision = decision, campaign
	}
	if decision != tilgang.ReviewKeep && decision != tilgang.ReviewRemove {
		return usagef(cmd, "say keep or remove: got %q and %q", pos[0], pos[1])
	}
	if err := checkID(cmd, "CAMPAIGN", campaign); err != nil {
		return err
	}
	if err := required(cmd, [2]string{"person", *person}); err != nil {
		return err
	}
	if (*role == "") == (*grant == "") {
		return usagef(cmd, "give exactly one of --role and --grant")
	}
	for _, c := range [][2]string{{"--person", *person}, {"--role", *role}, {"--grant", *grant}} {
		if c[1] != "" {
			if err := checkID(cmd, c[0], c[1]); err != nil {
				return err
			}
		}
	}
	if err := checkText(cmd, "--comment", *comment); err != nil {
		return err
	}
	data := envelope.ReviewDecision{CampaignID: campaign, GrantID: *grant, Decision: decision, Comment: *comment}
	if *grant != "" {
		return e.sendTo(cmd, tilgang.TypeReviewDecided, *person, *wait, data)
	}
	return e.sendAbout(cmd, tilgang.TypeReviewDecided, *wait, &data, func(c *api.Client) (string, error) {
		show, err := c.ReviewShowAll(e.ctx, api.ReviewShowArgs{CampaignID: campaign, Mine: true, Limit: reviewShowPage})
		if err != nil {
			return "", fmt.Errorf("look up campaign %s: %w", campaign, err)
		}
		for _, it := range show.Items {
			if it.Person == *person && it.Role == *role {
				data.GrantID = it.GrantID
				return *person, nil
			}
		}
		return "", &exitError{code: exitFailed, msg: fmt.Sprintf("campaign %s has no item of %s/%s that you review", campaign, *person, *role)}
	})
}

func runReviewClose(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := checkID(cmd, "CAMPAIGN", pos[0]); err != nil {
		return err
	}
	var out review.Closed
	if err := e.withAPI(cmd, func(c *api.Client) error {
		c.Timeout = 10 * time.Minute
		return c.Call(e.ctx, api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: pos[0]}, &out)
	}); err != nil {
		return err
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, out)
	}
	fmt.Fprintf(e.Stdout, "campaign %s %s: %d revoked, %d kept, %d no longer live (%d unanswered)\n", termSafe(out.CampaignID), out.State,
		out.Revoked, out.Kept, out.Gone, out.Unanswered)
	if out.State != "closed" {
		fmt.Fprintln(e.Stderr, "the close goes on in the worker; `tilgang review show` tells when it is closed")
	}
	return nil
}
