package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

// required checks that each named flag is set and, for ids, is one subject token.
func required(cmd *command, flags ...[2]string) error {
	for _, f := range flags {
		name, v := f[0], f[1]
		if strings.TrimSpace(v) == "" {
			return usagef(cmd, "--%s is required", name)
		}
	}
	return nil
}

func checkID(cmd *command, what, v string) error {
	if !tilgang.ValidToken(v) {
		return usagef(cmd, "%s %q is not an id: use letters, digits, '-' and '_'", what, v)
	}
	return nil
}

func checkText(cmd *command, what, v string) error {
	if n := len([]rune(v)); n > envelope.MaxText {
		return usagef(cmd, "%s is %d characters, more than %d", what, n, envelope.MaxText)
	}
	return nil
}

func runRequest(e *env, cmd *command, args []string) error {
	action := strings.TrimPrefix(cmd.name, "request ")
	fs := e.flags(cmd)
	person := fs.String("person", "", "the person's `ID` (the HR id, e.g. 1547-10234)")
	system := fs.String("system", "", "the system's `ID` in the catalogue (e.g. gerica)")
	role := fs.String("role", "", "the role's `ID` in the system (e.g. bruker)")
	reason := fs.String("reason", "", "why: a `TEXT` recorded with the request (required)")
	var until *string
	if action == envelope.ActionGrant {
		until = fs.String("until", "", "last day of access, `YYYY-MM-DD` (default: the role's default duration)")
	}
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record the request and print its status (0: do not wait)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if err := required(cmd, [2]string{"person", *person}, [2]string{"system", *system}, [2]string{"role", *role}, [2]string{"reason", *reason}); err != nil {
		return err
	}
	for _, c := range [][2]string{{"--person", *person}, {"--system", *system}, {"--role", *role}} {
		if err := checkID(cmd, c[0], c[1]); err != nil {
			return err
		}
	}
	if err := checkText(cmd, "--reason", *reason); err != nil {
		return err
	}
	p := envelope.Request{Action: action, System: *system, Role: *role, Reason: *reason}
	if until != nil && *until != "" {
		d, err := tilgang.ParseDate(*until)
		if err != nil {
			return usagef(cmd, "--until %q is not a date YYYY-MM-DD", *until)
		}
		if today := tilgang.DateOf(e.Now()); d.Before(today) {
			return usagef(cmd, "--until %s is in the past (today is %s in Oslo)", d, today)
		}
		p.ValidUntil = d
	}
	return e.sendTo(cmd, tilgang.TypeRequest, *person, *wait, p)
}

func runDecision(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	comment := fs.String("comment", "", "a `TEXT` recorded with the decision"+map[bool]string{true: " (required: say why)", false: ""}[cmd.name == "deny"])
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record the decision and print the status (0: do not wait)")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	requestID := pos[0]
	if !envelope.IsRequestID(requestID) {
		return usagef(cmd, "REQUEST_ID %q is not a request id: 64 lower-case hex digits, as `tilgang request` prints", requestID)
	}
	decision := envelope.DecisionApprove
	if cmd.name == "deny" {
		decision = envelope.DecisionDeny
		if strings.TrimSpace(*comment) == "" {
			return usagef(cmd, "--comment is required: a deny must say why")
		}
	}
	if err := checkText(cmd, "--comment", *comment); err != nil {
		return err
	}
	return e.sendAbout(cmd, tilgang.TypeDecision, *wait, envelope.Decision{RequestID: requestID, Decision: decision, Comment: *comment},
		func(c *api.Client) (string, error) {
			var st api.Status
			if err := c.Call(e.ctx, api.MethodStatus, api.StatusArgs{RequestID: requestID}, &st); err != nil {
				return "", fmt.Errorf("look up request %s: %w", requestID, err)
			}
			if st.Person == "" {
				return "", &exitError{code: exitFailed, msg: fmt.Sprintf("request %s is not known to the worker (yet): nothing to %s", requestID, cmd.name)}
			}
			return st.Person, nil
		})
}

func runTraining(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "the person's `ID`")
	system := fs.String("system", "", "the system's `ID`")
	role := fs.String("role", "", "the role's `ID`")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record it and print the status (0: do not wait)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if err := required(cmd, [2]string{"person", *person}, [2]string{"system", *system}, [2]string{"role", *role}); err != nil {
		return err
	}
	for _, c := range [][2]string{{"--person", *person}, {"--system", *system}, {"--role", *role}} {
		if err := checkID(cmd, c[0], c[1]); err != nil {
			return err
		}
	}
	return e.sendTo(cmd, tilgang.TypeTraining, *person, *wait, envelope.Training{System: *system, Role: *role})
}

func runTask(e *env, cmd *command, args []string) error {
	outcome := strings.TrimPrefix(cmd.name, "task ")
	fs := e.flags(cmd)
	comment := fs.String("comment", "", "a `TEXT` recorded with the outcome")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record it and print the status (0: do not wait)")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	opID := pos[0]
	if n, err := strconv.ParseInt(opID, 10, 64); err != nil || n <= 0 || strconv.FormatInt(n, 10) != opID {
		return usagef(cmd, "OPERATION_ID %q is not an operation id: a positive whole number, as task.manual events carry it", opID)
	}
	if err := checkText(cmd, "--comment", *comment); err != nil {
		return err
	}
	return e.sendAbout(cmd, tilgang.TypeTask, *wait, envelope.Task{OperationID: opID, Outcome: outcome, Comment: *comment},
		func(c *api.Client) (string, error) {
			var op api.Operation
			if err := c.Call(e.ctx, api.MethodOperation, api.OperationArgs{OperationID: opID}, &op); err != nil {
				return "", fmt.Errorf("look up operation %s: %w", opID, err)
			}
			return op.Person, nil
		})
}

func runOperator(e *env, cmd *command, args []string) error {
	typ := tilgang.TypeRetry
	if cmd.name == "grant cancel" {
		typ = tilgang.TypeCancel
	}
	fs := e.flags(cmd)
	comment := fs.String("comment", "", "a `TEXT` recorded with the retry or cancel")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record it and print the status (0: do not wait)")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	grantID := pos[0]
	if err := checkID(cmd, "GRANT_ID", grantID); err != nil {
		return err
	}
	if err := checkText(cmd, "--comment", *comment); err != nil {
		return err
	}
	return e.sendAbout(cmd, typ, *wait, envelope.Operator{GrantID: grantID, Comment: *comment},
		func(c *api.Client) (string, error) {
			var g api.GrantDetail
			if err := c.Call(e.ctx, api.MethodGrant, api.GrantArgs{GrantID: grantID}, &g); err != nil {
				return "", fmt.Errorf("look up grant %s: %w", grantID, err)
			}
			return g.Person, nil
		})
}

// sendTo builds the message about person and sends it; it is built
// first, so a message that would be refused is refused without a server.
func (e *env) sendTo(cmd *command, typ, person string, wait time.Duration, data any) error {
	id, err := e.identity(cmd, false)
	if err != nil {
		return err
	}
	m, err := e.build(id, typ, person, data)
	if err != nil {
		return err
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	return e.send(nc, id, m, wait)
}

// sendAbout publishes a message whose person the worker knows from what it
// refers to (a request, an operation, a grant): it asks the worker which
// person that is, then builds, signs and sends the message about them.
func (e *env) sendAbout(cmd *command, typ string, wait time.Duration, data any, person func(c *api.Client) (string, error)) error {
	id, err := e.identity(cmd, false)
	if err != nil {
		return err
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	who, err := person(e.client(nc, id))
	if err != nil {
		return err
	}
	m, err := e.build(id, typ, who, data)
	if err != nil {
		return err
	}
	return e.send(nc, id, m, wait)
}
