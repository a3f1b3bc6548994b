// Package cli is tilgang's command line (DESIGN.md "Command line"): one
// binary, one flag.FlagSet per command, global flags accepted before or
// after the command.
//
// Messages in (request, approve, deny, training, task, grant, hr) are
// CloudEvents signed with the key named by --key (env TILGANG_KEY, default
// ./.tilgang/keys/dev.nk when it exists) and published to JetStream on
// envelope.SubjectFor(type, person) with Nats-Msg-Id = envelope.MsgIDHash
// (request_id and actorsig); an acknowledgement saying duplicate is an
// error, since each message is published once. Every
// message is built, signed and decoded again with envelope.Decode before
// anything is published, so bad input publishes nothing. Reads and admin
// commands (status, grants, grant show, tasks, audit, policy reload) are
// signed calls to the worker's API (package api).
//
// `tilgang tasks` lists the manual tasks (operations waiting for a person)
// the asker may see, oldest first, with the OPERATION_ID that `tilgang task
// done|failed` takes; `tilgang grant show GRANT_ID` shows one grant and its
// operations, marking the waiting ones with that command.
//
// Who signs, and for whom: a key file is named after its principal
// (.tilgang/keys/dev.nk is the key of `dev`, hr.nk of `hr`, 1547-20001.nk of
// that person); --via PRINCIPAL says whose key it is when the name does not.
// The actor is --as (env TILGANG_AS), by default the key's own principal;
// when the actor differs from the key's principal the key's principal signs
// as via (DESIGN.md: with the dev key, via is dev and the actor comes from
// --as). `hr` commands default to the actor hr when signing with the dev key.
//
// --as and TILGANG_AS name the actor for every command, hr commands too:
// with TILGANG_AS exported for a session, pass --as hr to `hr import`.
//
// A command that publishes prints the message's request_id (text: the id
// alone, for R=$(tilgang request ...); json: {"request_id": ...}). With
// --wait DURATION it instead polls the status API until the worker has
// recorded the message and prints the status as `tilgang status` does; it
// fails when the message was rejected or not recorded in time (a denied
// grant request is an answer, not a failure). approve and deny find the
// request's person through the status API, task through the operation API,
// grant retry and cancel through the grant API, since the subject of every
// message in names its person. `hr import` validates every record first
// (publishing nothing if any is wrong), publishes them all, then follows
// them with status.many, with progress on stderr.
//
// Exit codes: 0 done; 1 failed (an error from NATS or the worker, problems
// found, a rejected message); 2 wrong usage (unknown command, bad flag,
// missing or malformed argument) or a command not available in this build.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
)

// Main runs the command line with os.Args[1:] and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, options{Stdout: stdout, Stderr: stderr, Stdin: os.Stdin, Getenv: os.Getenv, Now: time.Now})
}

// options are the process's surroundings, injected for tests.
type options struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
	Now            func() time.Time
}

// Defaults.
const (
	defaultNATS   = "nats://127.0.0.1:4223"
	defaultKey    = ".tilgang/keys/dev.nk"
	envNATS       = "TILGANG_NATS"
	envAs         = "TILGANG_AS"
	envKey        = "TILGANG_KEY"
	source        = "tilgang-cli"
	outputText    = "text"
	outputJSON    = "json"
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	usageHint     = "run `tilgang help` for every command and flag"
	notYetMessage = "is not available in this build yet"
)

// globals are the flags every command accepts.
type globals struct {
	nats, as, key, via, output string
}

// env is one run of the command line.
type env struct {
	ctx context.Context
	options
	g     globals
	trace *trace.SpanContext // what this run's messages carry as traceparent (traced)
}

// usageError is wrong usage of a command: exit 2 with the command's usage.
type usageError struct {
	cmd *command
	msg string
}

func (e *usageError) Error() string { return e.msg }

// exitError ends with code after its message (if any) was printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usagef(cmd *command, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

func notAvailable(what string) error {
	return &exitError{code: exitUsage, msg: what + " " + notYetMessage}
}

func run(ctx context.Context, args []string, o options) int {
	e := &env{ctx: ctx, options: o}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	e.g = globals{nats: firstOf(e.Getenv(envNATS), defaultNATS), as: e.Getenv(envAs), key: e.Getenv(envKey), output: outputText}

	fs := flag.NewFlagSet("tilgang", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.addGlobals(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(e.Stdout)
			return exitOK
		}
		fmt.Fprintf(e.Stderr, "tilgang: %v\n\n", err)
		writeUsage(e.Stderr)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(e.Stderr, "tilgang: no command given\n\n")
		writeUsage(e.Stderr)
		return exitUsage
	}
	cmd, cargs, err := lookup(rest)
	if err != nil {
		fmt.Fprintf(e.Stderr, "tilgang: %v\n\n", err)
		writeUsage(e.Stderr)
		return exitUsage
	}
	if cmd.name == "help" {
		return e.help(cargs)
	}
	err = cmd.run(e, cmd, cargs)
	return e.finish(cmd, err)
}

// finish prints err as its kind asks and returns the exit code. An error
// may carry text from outside (the worker's answer, a target's error), so
// it is printed through termLines.
func (e *env) finish(cmd *command, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ee *exitError
	switch {
	case errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		c := cmd
		if ue.cmd != nil {
			c = ue.cmd
		}
		fmt.Fprintf(e.Stderr, "tilgang %s: %s\nusage: tilgang %s\n%s\n", c.name, termLines(ue.msg), c.usage, usageHint)
		return exitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(e.Stderr, "tilgang %s: %s\n", cmd.name, termLines(ee.msg))
		}
		return ee.code
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.Stderr, "tilgang %s: interrupted\n", cmd.name)
		return exitFailed
	}
	fmt.Fprintf(e.Stderr, "tilgang %s: %s\n", cmd.name, termLines(describe(err)))
	return exitFailed
}

// describe is an error for people: the worker's refusals read as what they are.
func describe(err error) string {
	var te *tilgang.Error
	if errors.As(err, &te) {
		switch te.Kind {
		case tilgang.Denied:
			return "refused: " + err.Error()
		case tilgang.NotFound:
			return "not found: " + err.Error()
		}
	}
	return err.Error()
}

func (e *env) addGlobals(fs *flag.FlagSet) {
	fs.StringVar(&e.g.nats, "nats", e.g.nats, "NATS server URL (env "+envNATS+")")
	fs.StringVar(&e.g.as, "as", e.g.as, "act as this principal (env "+envAs+"; default: the key's principal)")
	fs.StringVar(&e.g.key, "key", e.g.key, "file holding the nkeys user seed to sign with (env "+envKey+"; default ./"+defaultKey+" when it exists)")
	fs.StringVar(&e.g.via, "via", e.g.via, "the principal whose key --key is, signing on behalf of --as (default: the key file's name, dev for dev.nk)")
	fs.StringVar(&e.g.output, "output", e.g.output, "output format: text or json")
}

var globalFlags = map[string]bool{"nats": true, "as": true, "key": true, "via": true, "output": true}

// flags is a FlagSet for cmd that also takes the global flags.
func (e *env) flags(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("tilgang "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.addGlobals(fs)
	return fs
}

// parse parses args with fs, flags and positional arguments in any order
// ("--" ends the flags), checks the global flags and the number of
// positional arguments (between min and max; max < 0 is any), and returns
// the positional ones.
func (e *env) parse(cmd *command, fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.printHelp(cmd, fs)
				return nil, errHelpShown
			}
			return nil, usagef(cmd, "%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if e.g.output != outputText && e.g.output != outputJSON {
		return nil, usagef(cmd, "--output %q must be text or json", e.g.output)
	}
	switch {
	case len(pos) < min:
		return nil, usagef(cmd, "missing argument: %s", cmd.usage)
	case max >= 0 && len(pos) > max:
		return nil, usagef(cmd, "unexpected argument %q", pos[max])
	}
	return pos, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// command is one command of the table below.
type command struct {
	name    string // "request grant"
	usage   string // "request grant --person ID ..."
	summary string
	group   string
	run     func(e *env, cmd *command, args []string) error
}

// errHelpShown: -h was asked for and the help is printed.
var errHelpShown = errors.New("help shown")

// printHelp prints cmd's usage and its own flags (not the global ones).
func (e *env) printHelp(cmd *command, fs *flag.FlagSet) {
	w := e.Stdout
	fmt.Fprintf(w, "usage: tilgang %s\n\n%s\n", cmd.usage, cmd.summary)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] {
			return
		}
		if first {
			fmt.Fprintf(w, "\nFlags:\n")
			first = false
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%-28s %s\n", line, usage)
	})
	fmt.Fprintf(w, "\nGlobal flags, before or after the command: --nats URL, --as PRINCIPAL, --key FILE, --via PRINCIPAL, --output text|json\n")
}

const (
	groupRun     = "Running tilgang"
	groupMsg     = "Messages in (signed, published to JetStream)"
	groupRead    = "Reads and admin (signed calls to the worker)"
	groupPolicy  = "The policy catalogue"
	groupLater   = "Later"
	groupGeneral = "General"
)

var groupOrder = []string{groupRun, groupMsg, groupRead, groupPolicy, groupLater, groupGeneral}

var commands []*command

func init() {
	commands = []*command{
		{name: "dev", group: groupRun, run: runDev,
			usage:   "dev [--data DIR] [--policies DIR] [--nats-listen ADDR] [--http ADDR] [--smtp ADDR] [--remind-after DAYS] [--escalate-after DAYS] [--otlp-endpoint URL]",
			summary: "run everything in one process: embedded NATS, SQLite ledger, intake, executor and API"},
		{name: "worker", group: groupRun, run: runWorker,
			usage:   "worker --config FILE",
			summary: "run a worker replica against a NATS cluster and PostgreSQL (see deploy/worker.example.yaml)"},
		{name: "backup", group: groupRun, run: runBackup,
			usage:   "backup (--data DIR | --config FILE) --to FILE",
			summary: "copy a SQLite ledger, also while the worker runs (PostgreSQL: pg_dump, see the README)"},
		{name: "restore", group: groupRun, run: runRestore,
			usage:   "restore --from FILE (--data DIR | --config FILE)",
			summary: "replace a SQLite ledger (DIR's, or the one a worker config names) with a backup, refused while a worker uses it; the next start applies again what came after it"},
		{name: "config check", group: groupRun, run: runConfigCheck,
			usage:   "config check --config FILE [--targets]",
			summary: "check a worker config, its principals file and catalogue: prints it with secrets redacted and ok, or every problem (exit 1)"},
		principalAdd, principalRotate, principalRevoke,

		{name: "request grant", group: groupMsg, run: runRequest,
			usage:   "request grant --person ID --system ID --role ID --reason TEXT [--until YYYY-MM-DD] [--wait DURATION]",
			summary: "ask for a role in a system for a person; prints the request_id"},
		{name: "request revoke", group: groupMsg, run: runRequest,
			usage:   "request revoke --person ID --system ID --role ID --reason TEXT [--wait DURATION]",
			summary: "ask to take a person's role away; prints the request_id"},
		{name: "approve", group: groupMsg, run: runDecision,
			usage:   "approve REQUEST_ID [--comment TEXT] [--wait DURATION]",
			summary: "approve the current approval stage of a grant request"},
		{name: "deny", group: groupMsg, run: runDecision,
			usage:   "deny REQUEST_ID --comment TEXT [--wait DURATION]",
			summary: "deny a grant request, saying why"},
		{name: "training confirm", group: groupMsg, run: runTraining,
			usage:   "training confirm --person ID --system ID --role ID [--wait DURATION]",
			summary: "confirm that a person has completed the training a role requires (administrators)"},
		{name: "task done", group: groupMsg, run: runTask,
			usage:   "task done OPERATION_ID [--comment TEXT] [--wait DURATION]",
			summary: "report a manual task as done (administrators of the system)"},
		{name: "task failed", group: groupMsg, run: runTask,
			usage:   "task failed OPERATION_ID [--comment TEXT] [--wait DURATION]",
			summary: "report a manual task as failed (administrators of the system)"},
		{name: "grant retry", group: groupMsg, run: runOperator,
			usage:   "grant retry GRANT_ID [--comment TEXT] [--wait DURATION]",
			summary: "retry a failed or revoke_failed grant (operators)"},
		{name: "grant cancel", group: groupMsg, run: runOperator,
			usage:   "grant cancel GRANT_ID [--comment TEXT] [--wait DURATION]",
			summary: "cancel a grant waiting for approval or training, or not yet provisioning (operators)"},
		{name: "hr joiner", group: groupMsg, run: runHREvent,
			usage:   "hr joiner --file FILE [--wait DURATION]",
			summary: "send an HR joiner event: FILE holds {\"version\": n, \"person\": {...}} or a bare person record"},
		{name: "hr mover", group: groupMsg, run: runHREvent,
			usage:   "hr mover --file FILE [--wait DURATION]",
			summary: "send an HR mover event (FILE as for hr joiner)"},
		{name: "hr leaver", group: groupMsg, run: runHREvent,
			usage:   "hr leaver --file FILE [--wait DURATION]",
			summary: "send an HR leaver event (FILE as for hr joiner)"},
		{name: "hr import", group: groupMsg, run: runHRImport,
			usage:   "hr import FILE [--wait DURATION]",
			summary: "send a JSON array of person records as joiner events, follow them and report accepted, rejected and ignored"},
		{name: "hr sync", group: groupMsg, run: runHRSync,
			usage:   "hr sync (--source NAME [--config FILE] | --type TYPE (--file FILE | --url URL) [--source NAME]) [--days-before-start DAYS] [--municipality NUMBER] [--dry-run] [--allow-changes] [--wait DURATION]",
			summary: "read an HR system's snapshot, compare it with the last one kept and send the joiners, movers and leavers (held by the fail-safe: exit 1)"},

		{name: "status", group: groupRead, run: runStatus,
			usage:   "status REQUEST_ID",
			summary: "show what became of a request: request_id grant_id state"},
		{name: "grants", group: groupRead, run: runGrants,
			usage:   "grants --person ID | --system ID [--open]",
			summary: "list the grants of a person or a system that you may see"},
		{name: "tasks", group: groupRead, run: runTasks,
			usage:   "tasks [--system ID]",
			summary: "list the manual tasks waiting for a person that you may see, with the OPERATION_ID `task done` takes"},
		{name: "grant show", group: groupRead, run: runGrantShow,
			usage:   "grant show GRANT_ID",
			summary: "show a grant and its operations, marking the manual tasks waiting for a person"},
		{name: "audit", group: groupRead, run: runAudit,
			usage:   "audit [--person ID] [--system ID] [--since YYYY-MM-DD] [--format table|csv|json]",
			summary: "list audit chain rows that you may see"},
		{name: "audit verify", group: groupRead, run: runAuditVerify,
			usage:   "audit verify",
			summary: "verify the audit chain and the tables beside it against every signed anchor (operators and auditors)"},
		{name: "policy reload", group: groupRead, run: runPolicyReload,
			usage:   "policy reload",
			summary: "make the worker reload the policy catalogue (operators)"},
		eraseCommand,
		reportAccessCommand,

		{name: "policy check", group: groupPolicy, run: runPolicyCheck,
			usage:   "policy check [DIR]",
			summary: "validate the catalogue in DIR (default policies): file:line problems, exit 1 on any"},
		{name: "policy test", group: groupPolicy, run: runPolicyTest,
			usage:   "policy test [DIR]",
			summary: "run the catalogue's policy tests (DIR/tests/*.yaml): file:line of each case that fails, exit 1 on any"},

		{name: "plan", group: groupRead, run: runPlan,
			usage:   "plan --person ID [--system ID --role ID]",
			summary: "dry run: what the policy would decide for a person, and which operations would follow; changes nothing"},
		{name: "catalog import", group: groupPolicy, run: runCatalogImport,
			usage:   "catalog import FILE.csv|FILE.xlsx [--dir DIR]",
			summary: "policy file skeletons from a systemoversikt spreadsheet (system, navn, systemeier, systemansvarlig, systemkoordinator); never overwrites a file"},
		{name: "credential open", group: groupLater, run: runCredentialOpen,
			usage:   "credential open [--person ID] [--curve-key FILE]",
			summary: "open the initial passwords of new accounts that are sealed to you (credential.issued)"},
		{name: "graph-emulator", group: groupLater, run: runGraphEmulator,
			usage:   "graph-emulator [--listen ADDR] [--groups NAMES] [--budget N] [--replication-delay DURATION]",
			summary: "serve a Microsoft Graph v1.0 emulator on loopback, to try an entra connector without a tenant"},
		reconcileCommand,

		{name: "help", group: groupGeneral,
			usage:   "help [COMMAND]",
			summary: "show this text, or one command's usage"},
	}
}

// lookup finds the command args name: "request grant ..." or "status ...".
func lookup(args []string) (*command, []string, error) {
	if len(args) > 1 {
		if c := find(args[0] + " " + args[1]); c != nil {
			return c, args[2:], nil
		}
	}
	if c := find(args[0]); c != nil {
		return c, args[1:], nil
	}
	var subs []string
	for _, c := range commands {
		if first, second, ok := strings.Cut(c.name, " "); ok && first == args[0] {
			subs = append(subs, second)
		}
	}
	if len(subs) > 0 {
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			return nil, nil, fmt.Errorf("unknown command %q: %s takes %s", args[0]+" "+args[1], args[0], strings.Join(subs, ", "))
		}
		return nil, nil, fmt.Errorf("%s needs one of: %s", args[0], strings.Join(subs, ", "))
	}
	return nil, nil, fmt.Errorf("unknown command %q", args[0])
}

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (e *env) help(args []string) int {
	if len(args) > 0 {
		c, _, err := lookup(args)
		if err != nil {
			fmt.Fprintf(e.Stderr, "tilgang help: %v\n\n", err)
			writeUsage(e.Stderr)
			return exitUsage
		}
		if c.name == "help" {
			writeUsage(e.Stdout)
			return exitOK
		}
		return e.finish(c, c.run(e, c, []string{"-h"}))
	}
	writeUsage(e.Stdout)
	return exitOK
}

func writeUsage(w io.Writer) {
	fmt.Fprintf(w, "tilgang provisions people into the municipalities' systems.\n\nusage: tilgang [global flags] COMMAND [flags]\n")
	byGroup := map[string][]*command{}
	for _, c := range commands {
		byGroup[c.group] = append(byGroup[c.group], c)
	}
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, g := range groupOrder {
		cs := byGroup[g]
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, c := range cs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
		}
	}
	fmt.Fprintf(w, `
Global flags, before or after the command:
  --nats URL          NATS server (env %s, default %s)
  --as PRINCIPAL      act as this principal (env %s; default the key's principal,
                      and hr for hr commands signed with the dev key)
  --key FILE          nkeys user seed to sign with (env %s, default ./%s when it exists)
  --via PRINCIPAL     whose key --key is (default the file's name: dev for dev.nk);
                      it signs on behalf of --as when the two differ
  --output text|json  output format (default text)

Run `+"`tilgang help COMMAND`"+` for a command's usage.
`, envNATS, defaultNATS, envAs, envKey, defaultKey)
}
