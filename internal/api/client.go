package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/nats-io/nuid"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Client makes signed calls; the CLI's side of the API.
type Client struct {
	NC  *nats.Conn
	Key nkeys.KeyPair // the signer's key: Via's when Via is set, else Actor's
	// Actor is who asks; Via, optional, the service principal whose Key signs on Actor's behalf.
	Actor, Via string
	Timeout    time.Duration    // per call, default 10 s (and never past ctx's deadline)
	Now        func() time.Time // default time.Now
}

// maxResponse bounds a reassembled response.
const maxResponse = 256 << 20

// Call calls method with args (marshalled to a JSON object; nil is {}) and
// decodes the result into out (nil discards it). A refusal or failure
// answered by the server is a *tilgang.Error of the kind it names; no
// server listening is Unavailable.
func (c *Client) Call(ctx context.Context, method string, args any, out any) error {
	body, err := c.body(method, args)
	if err != nil {
		return err
	}
	if len(body) > MaxRequest {
		return tilgang.Errorf(tilgang.Invalid, "api: %s: the request is %d bytes, more than the %d the API takes: ask in smaller parts", method, len(body), MaxRequest)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	subject := streams.APIPrefix + method
	inbox := c.NC.NewInbox()
	// The answer's parts arrive on a subscription of the call's own. Not
	// SubscribeSync: its channel is made as long as the connection's
	// SubChanLen (64 Ki messages, 512 KiB), on every call, which made
	// a portal page's calls allocate more than its rows and templates
	// and so run the garbage collector once or twice a page. The
	// subscription's own pending list holds parts not yet taken, as
	// SubscribeSync's channel did, within the same pending limits.
	msgs, done := make(chan *nats.Msg), make(chan struct{})
	sub, err := c.NC.Subscribe(inbox, func(m *nats.Msg) {
		select {
		case msgs <- m:
		case <-done: // the call has ended
		}
	})
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "api: %s", method)
	}
	defer func() {
		close(done)
		sub.Unsubscribe()
	}()
	if err := c.NC.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Data: body}); err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "api: %s", method)
	}
	resp, err := receive(ctx, msgs, method)
	if err != nil {
		return err
	}
	var r Response
	if err := json.Unmarshal(resp, &r); err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "api: %s: the answer is not valid JSON", method)
	}
	if !r.OK {
		if r.Error == nil {
			return tilgang.Errorf(tilgang.Internal, "api: %s failed without saying why", method)
		}
		kind := r.Error.Kind
		if kind == "" {
			kind = tilgang.Internal
		}
		return &tilgang.Error{Kind: kind, Message: r.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "api: %s: unexpected result", method)
	}
	return nil
}

// Audit calls audit page by page, from args.After (the start when nil),
// and hands each page's rows to each, in chain order, so that the caller
// never holds more than one page. It stops at the first error each
// returns. A worker from before paging, which refuses after, is asked
// once without it and answers every row at once.
func (c *Client) Audit(ctx context.Context, args AuditArgs, each func([]AuditRow) error) error {
	var after int64
	if args.After != nil {
		after = *args.After
	}
	for first := true; ; first = false {
		args.After = &after
		var p AuditPage
		if err := c.Call(ctx, MethodAudit, args, &p); err != nil {
			if first && after == 0 && args.Limit == 0 && tilgang.KindOf(err) == tilgang.Invalid && strings.Contains(err.Error(), `unknown field "after"`) {
				args.After = nil
				var rows []AuditRow
				if err := c.Call(ctx, MethodAudit, args, &rows); err != nil {
					return err
				}
				return each(rows)
			}
			return err
		}
		if err := each(p.Rows); err != nil {
			return err
		}
		if p.Next == 0 {
			return nil
		}
		if p.Next <= after {
			return tilgang.Errorf(tilgang.Internal, "api: audit: the page after %d names next %d, not a later row", after, p.Next)
		}
		after = p.Next
	}
}

// StatusPerCall is the most request ids StatusAll asks for in one
// status.many call. status.many bounds each status's why (MaxManyWhy), so
// the answer to this many stays under NATS's default max payload (1 MiB)
// and is not split into parts.
const StatusPerCall = 500

// requestSlack is room for the parts of a request body whose length varies
// from call to call (the time drops trailing zeros of its fraction).
const requestSlack = 64

// StatusAll reads the statuses of ids, in their order, in as many
// status.many calls as it takes: each call's request fits MaxRequest and
// asks for at most StatusPerCall ids, however many ids there are. done,
// when not nil, is called after each call with how many statuses have been
// read so far. It is what anything that follows many requests (hr import)
// calls.
func (c *Client) StatusAll(ctx context.Context, ids []string, done func(n int)) ([]Status, error) {
	empty, err := c.body(MethodStatusMany, StatusManyArgs{RequestIDs: []string{}})
	if err != nil {
		return nil, err
	}
	budget := MaxRequest - len(empty) - requestSlack
	out := make([]Status, 0, len(ids))
	for start := 0; start < len(ids); {
		end, size := start, 0
		for end < len(ids) && end-start < StatusPerCall {
			n := jsonLen(ids[end]) + 1 // and its comma
			if size+n > budget {
				break
			}
			size += n
			end++
		}
		if end == start {
			return out, tilgang.Errorf(tilgang.Invalid, "api: %s: request id %q is too long for any call", MethodStatusMany, short(ids[start]))
		}
		var got []Status
		if err := c.Call(ctx, MethodStatusMany, StatusManyArgs{RequestIDs: ids[start:end]}, &got); err != nil {
			return out, err
		}
		if len(got) != end-start {
			return out, tilgang.Errorf(tilgang.Internal, "api: %s: asked for %d statuses, got %d", MethodStatusMany, end-start, len(got))
		}
		out = append(out, got...)
		start = end
		if done != nil {
			done(len(out))
		}
	}
	return out, nil
}

// GrantsAll reads every grant a grants call with a's filters answers, in
// pages of MaxGrants (a.Limit and a.After are ignored).
func (c *Client) GrantsAll(ctx context.Context, a GrantsArgs) ([]Grant, error) {
	a.Limit, a.After = MaxGrants, ""
	out := []Grant{}
	for {
		var got []Grant
		if err := c.Call(ctx, MethodGrants, a, &got); err != nil {
			return out, err
		}
		out = append(out, got...)
		if len(got) < a.Limit {
			return out, nil
		}
		a.After = got[len(got)-1].ID
	}
}

// jsonLen is the length of s encoded as a JSON string.
func jsonLen(s string) int {
	b, err := json.Marshal(s)
	if err != nil {
		return len(s) + 2
	}
	return len(b)
}

// body builds and signs a call's body.
func (c *Client) body(method string, args any) ([]byte, error) {
	if c.Key == nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "api: no signing key")
	}
	if args == nil {
		args = struct{}{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "api: %s: args", method)
	}
	if len(a) == 0 || a[0] != '{' {
		return nil, tilgang.Errorf(tilgang.Invalid, "api: %s: args must be a JSON object", method)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	req := Request{Actor: c.Actor, Via: c.Via, Time: now().UTC().Format(time.RFC3339Nano), Nonce: nuid.Next(), Args: a}
	if req.Via == req.Actor {
		req.Via = ""
	}
	sig, err := c.Key.Sign(SigningInput(method, req.Actor, req.Via, req.Time, req.Nonce, req.Args))
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "api: sign")
	}
	req.Sig = base64.RawURLEncoding.EncodeToString(sig)
	return json.Marshal(req)
}

// receive reads one whole answer: one message, or the parts of a split one.
func receive(ctx context.Context, msgs <-chan *nats.Msg, method string) ([]byte, error) {
	var (
		parts [][]byte
		want  int
		size  int
	)
	for {
		var m *nats.Msg
		select {
		case m = <-msgs:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, tilgang.Errorf(tilgang.Unavailable, "api: %s: no answer in time: is the worker busy or gone?", method)
			}
			return nil, tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "api: %s", method)
		}
		if m.Header.Get("Status") == "503" {
			return nil, noResponders(method)
		}
		h := m.Header.Get(PartHeader)
		if h == "" {
			if parts != nil {
				return nil, tilgang.Errorf(tilgang.Internal, "api: %s: a whole answer arrived among parts", method)
			}
			return m.Data, nil
		}
		i, n, ok := parsePart(h)
		if !ok || (want != 0 && n != want) || i != len(parts)+1 {
			return nil, tilgang.Errorf(tilgang.Internal, "api: %s: answer part %q out of order", method, h)
		}
		want = n
		size += len(m.Data)
		if size > maxResponse {
			return nil, tilgang.Errorf(tilgang.Internal, "api: %s: the answer is larger than %d bytes", method, maxResponse)
		}
		parts = append(parts, m.Data)
		if i == n {
			out := make([]byte, 0, size)
			for _, p := range parts {
				out = append(out, p...)
			}
			return out, nil
		}
	}
}

func parsePart(h string) (i, n int, ok bool) {
	a, b, found := strings.Cut(h, "/")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || i < 1 || n < 1 || i > n {
		return 0, 0, false
	}
	return i, n, true
}

// String names the client for messages.
func (c *Client) String() string {
	if c.Via != "" && c.Via != c.Actor {
		return fmt.Sprintf("%s via %s", c.Actor, c.Via)
	}
	return c.Actor
}

func noResponders(method string) error {
	return tilgang.Errorf(tilgang.Unavailable, "api: %s: no tilgang worker answers on %s (is `tilgang dev` or a worker running?)", method, streams.APIPrefix+method)
}

// System reads one page of a system's page (SystemArgs, SystemPage).
func (c *Client) System(ctx context.Context, a SystemArgs) (SystemPage, error) {
	var p SystemPage
	err := c.Call(ctx, MethodSystem, a, &p)
	return p, err
}

// SystemHolders hands every holder of the system (of role when not "")
// to each, a page of at most MaxGrants at a time in role, person, id
// order, with the page's names; it stops at the first error each returns.
// A CSV export of a system's holders walks it.
func (c *Client) SystemHolders(ctx context.Context, system, role string, each func(holders []Grant, names map[string]string) error) error {
	a := SystemArgs{System: system, Role: role}
	for {
		p, err := c.System(ctx, a)
		if err != nil {
			return err
		}
		if err := each(p.Holders, p.Names); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		a.After = p.Next
	}
}

// ReviewShowAll is review.show with every item of a, read a page of
// a.Limit (0: MaxReviewPage) at a time from the first: the campaign as the
// first page has it, with the items of all pages.
func (c *Client) ReviewShowAll(ctx context.Context, a ReviewShowArgs) (ReviewShow, error) {
	if a.Limit == 0 {
		a.Limit = MaxReviewPage
	}
	a.After = ""
	var all ReviewShow
	for first := true; ; first = false {
		var p ReviewShow
		if err := c.Call(ctx, MethodReviewShow, a, &p); err != nil {
			return all, err
		}
		if first {
			all = p
			all.Items = append([]ReviewItem{}, p.Items...)
		} else {
			all.Items = append(all.Items, p.Items...)
		}
		if p.Next == "" {
			all.Next = ""
			return all, nil
		}
		if p.Next == a.After {
			return all, tilgang.Errorf(tilgang.Internal, "api: %s: the page after %s names itself next", MethodReviewShow, a.After)
		}
		a.After = p.Next
	}
}
