package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// identity is who a command acts as and the key that signs for it.
type identity struct {
	kp     nkeys.KeyPair
	actor  string
	via    string // "" when the actor signs itself
	signer string // via, else actor
	file   string
}

// identity resolves the key, actor and via (see the package doc). hr says
// the command sends HR events, whose actor with the dev key is hr.
func (e *env) identity(cmd *command, hr bool) (*identity, error) {
	file := e.g.key
	if file == "" {
		if _, err := os.Stat(defaultKey); err == nil {
			file = defaultKey
		} else {
			return nil, usagef(cmd, "no signing key: pass --key FILE or set %s (`tilgang dev` writes ./%s)", envKey, defaultKey)
		}
	}
	owner := e.g.via
	if owner == "" {
		base := filepath.Base(file)
		owner = strings.TrimSuffix(base, filepath.Ext(base))
		if !tilgang.ValidToken(owner) {
			return nil, usagef(cmd, "cannot tell whose key %s is: name it <principal>.nk or pass --via PRINCIPAL", file)
		}
	} else if !tilgang.ValidToken(owner) {
		return nil, usagef(cmd, "--via %q is not a principal id (letters, digits, '-', '_')", owner)
	}
	actor := e.g.as
	switch {
	case actor != "":
		if !tilgang.ValidToken(actor) {
			return nil, usagef(cmd, "--as %q is not a principal id (letters, digits, '-', '_')", actor)
		}
	case hr && owner == principals.DevID:
		actor = principals.HRID
	default:
		actor = owner
	}
	kp, err := principals.LoadSeed(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || tilgang.KindOf(err) == tilgang.NotFound {
			return nil, usagef(cmd, "%v", err)
		}
		return nil, err
	}
	id := &identity{kp: kp, actor: actor, signer: owner, file: file}
	if actor != owner {
		id.via = owner
	}
	return id, nil
}

// outMsg is one message in, built, signed and checked, ready to publish.
type outMsg struct {
	subject   string
	raw       []byte
	requestID string
	msgID     string // Nats-Msg-Id: envelope.MsgIDHash, the request id and the signature
	person    string
}

// build makes the signed envelope of typ about person with data payload,
// and decodes it again as the worker will, so that nothing the worker would
// reject as malformed is ever published.
func (e *env) build(id *identity, typ, person string, payload any) (*outMsg, error) {
	return e.buildAs(id, source, nuid.Next(), typ, person, payload)
}

// buildAs is build with the envelope's source and id given (hr sync's,
// whose ids make sending the same change again idempotent).
func (e *env) buildAs(id *identity, src, msgID, typ, person string, payload any) (*outMsg, error) {
	subject, err := envelope.SubjectFor(typ, person)
	if err != nil {
		return nil, err
	}
	ctx, err := e.traced()
	if err != nil {
		return nil, err
	}
	env := &envelope.Envelope{SpecVersion: envelope.SpecVersion, ID: msgID, Source: src, Type: typ,
		Subject: person, Time: e.Now().UTC().Format(time.RFC3339Nano), Actor: id.actor, Via: id.via}
	env.TraceParent, env.TraceState = telemetry.Outgoing(ctx)
	if err := env.SetData(payload); err != nil {
		return nil, err
	}
	if err := env.Sign(id.kp); err != nil {
		return nil, err
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := envelope.Decode(subject, raw); err != nil {
		return nil, err
	}
	return &outMsg{subject: subject, raw: raw, requestID: env.Key(), msgID: env.MsgID(), person: person}, nil
}

// connect dials NATS.
func (e *env) connect() (*nats.Conn, error) {
	nc, err := nats.Connect(e.g.nats, nats.Name("tilgang-cli"), nats.Timeout(5*time.Second), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w (is `tilgang dev` running? set --nats or %s)", e.g.nats, err, envNATS)
	}
	return nc, nil
}

func natsMsg(m *outMsg) *nats.Msg {
	msg := nats.NewMsg(m.subject)
	msg.Data = m.raw
	msg.Header.Set(jetstream.MsgIDHeader, m.msgID)
	return msg
}

// publish publishes one message and waits for JetStream's acknowledgement.
// The CLI publishes each message once, so an acknowledgement saying
// duplicate means that the stream holds another message under its
// Nats-Msg-Id and dropped this one: an error.
func (e *env) publish(ctx context.Context, nc *nats.Conn, m *outMsg) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg := natsMsg(m)
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return publishError(m.subject, err)
	}
	return client.CheckAck(msg, ack)
}

func publishError(subject string, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("publish to %s: no JetStream stream takes it (is `tilgang dev` running?): %w", subject, err)
	}
	return fmt.Errorf("publish to %s: %w", subject, err)
}

// client is an API client acting as id.
func (e *env) client(nc *nats.Conn, id *identity) *api.Client {
	return &api.Client{NC: nc, Key: id.kp, Actor: id.actor, Via: id.via, Timeout: 15 * time.Second, Now: e.Now}
}

// send publishes one built message and prints its request_id, or, with
// wait > 0, its status once the worker has recorded it.
func (e *env) send(nc *nats.Conn, id *identity, m *outMsg, wait time.Duration) error {
	if err := e.publish(e.ctx, nc, m); err != nil {
		return err
	}
	if wait <= 0 {
		if e.g.output == outputJSON {
			return writeJSON(e.Stdout, map[string]string{"request_id": m.requestID})
		}
		fmt.Fprintln(e.Stdout, m.requestID)
		return nil
	}
	st, err := e.waitStatus(e.client(nc, id), m.requestID, wait)
	if err != nil {
		return err
	}
	why := st.Why
	rejected := st.State == "rejected"
	if rejected && e.g.output == outputText {
		st.Why = "" // said once, in the error below
	}
	if err := e.printStatus(st); err != nil {
		return err
	}
	switch {
	case st.State == api.StateUnknown:
		return &exitError{code: exitFailed, msg: fmt.Sprintf("request %s was not processed within %s", m.requestID, wait)}
	case rejected:
		return &exitError{code: exitFailed, msg: "rejected: " + firstOf(why, "(no reason given)")}
	}
	return nil
}

// waitStatus polls status until the request is recorded or wait has passed.
func (e *env) waitStatus(c *api.Client, requestID string, wait time.Duration) (api.Status, error) {
	deadline := time.Now().Add(wait)
	delay := 100 * time.Millisecond
	for {
		var st api.Status
		if err := c.Call(e.ctx, api.MethodStatus, api.StatusArgs{RequestID: requestID}, &st); err != nil {
			return st, err
		}
		if st.State != api.StateUnknown || !time.Now().Add(delay).Before(deadline) {
			return st, nil
		}
		select {
		case <-e.ctx.Done():
			return st, e.ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

// Environment variables naming the span a script or CI job runs in, whose
// children the messages of this run become (the W3C form, as
// OpenTelemetry's environment-variable propagation writes it).
const (
	envTraceParent = "TRACEPARENT"
	envTraceState  = "TRACESTATE"
)

// traced is e.ctx holding the span context the messages sent in this run
// carry as traceparent: TRACEPARENT's, else one new trace for the run. It
// is given to senders only, never to a worker run from this process.
func (e *env) traced() (context.Context, error) {
	if e.trace == nil {
		sc := telemetry.NewRoot()
		getenv := e.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		if tp := getenv(envTraceParent); tp != "" {
			if err := envelope.CheckTraceParent(tp); err != nil {
				return nil, fmt.Errorf("%s: %w", envTraceParent, err)
			}
			ts := getenv(envTraceState)
			if ts != "" {
				if err := envelope.CheckTraceState(ts); err != nil {
					return nil, fmt.Errorf("%s: %w", envTraceState, err)
				}
			}
			sc = telemetry.Parse(tp, ts)
		}
		e.trace = &sc
	}
	return trace.ContextWithSpanContext(e.ctx, *e.trace), nil
}
