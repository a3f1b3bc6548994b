package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/reconcile"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Server answers calls on tilgang.api.> from the ledger.
type Server struct {
	Ledger     ledger.Reader
	Catalogue  func() *policy.Catalogue
	Principals func() *principals.Set
	// Verify checks the chain against the newest anchor and publishes a new anchor; supplied by the app.
	Verify func(ctx context.Context) (ledger.VerifyReport, error)
	// Reload reloads the catalogue (policy reload); supplied by the app;
	// returns the new version and what every replica holds.
	Reload func(ctx context.Context, actor string) (ReloadResult, error)
	Now    func() time.Time
	Log    *slog.Logger
	// Serving, when set, is closed once Serve has subscribed.
	Serving chan struct{}
	// EraseLimit is the newest time an erasure may reach at now: now less
	// retention.min (erase.go); nil: the default retention.min.
	EraseLimit func(now time.Time) time.Time
	// Reconcile runs reconciliation (reconcile.go); nil: not in this process.
	Reconcile func(ctx context.Context, o reconcile.Options) ([]reconcile.Report, error)
	// Reviews starts and closes access review campaigns (review.go); nil:
	// not in this process.
	Reviews Reviewer
	// CloseWait is how long a review.close call applies items before it
	// answers closing (review.go); 0: 45 s.
	CloseWait time.Duration
	// HRSyncHeld, when set, is told the source of each held HR sync once
	// its hold is chained (the worker counts them: hrsync.Metrics).
	HRSyncHeld func(source string)

	replayMu sync.Mutex
	replay   map[string]time.Time // signer "\n" nonce -> when it may be forgotten
}

const (
	maxInFlight  = 32
	callTimeout  = 60 * time.Second
	drainTimeout = 30 * time.Second
	maxReplay    = 200_000
)

// Serve subscribes to tilgang.api.> in the queue group QueueGroup and
// answers calls until ctx ends; then it drains the subscription, lets the
// calls in flight finish and returns nil. Calls are answered concurrently,
// at most 32 at a time.
func (s *Server) Serve(ctx context.Context, nc *nats.Conn) error {
	if s.Ledger == nil {
		return errors.New("api: Serve: no Ledger")
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	base := context.WithoutCancel(ctx)
	sub, err := nc.QueueSubscribe(streams.APIPrefix+">", QueueGroup, func(m *nats.Msg) {
		sem <- struct{}{} // blocks the dispatcher: back pressure, not unbounded goroutines
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(base, callTimeout)
			defer cancel()
			s.handle(cctx, nc, m)
		}()
	})
	if err != nil {
		return fmt.Errorf("api: subscribe %s>: %w", streams.APIPrefix, err)
	}
	if err := nc.Flush(); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("api: subscribe %s>: %w", streams.APIPrefix, err)
	}
	s.log().Info("api serving", "subject", streams.APIPrefix+">", "queue", QueueGroup)
	if s.Serving != nil {
		close(s.Serving)
	}
	<-ctx.Done()
	if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log().Warn("api drain", "err", err)
	}
	deadline := time.Now().Add(drainTimeout)
	for sub.IsValid() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	return nil
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) handle(ctx context.Context, nc *nats.Conn, m *nats.Msg) {
	if m.Reply == "" {
		return // nobody to answer
	}
	method := strings.TrimPrefix(m.Subject, streams.APIPrefix)
	start := time.Now()
	result, actor, err := s.Call(ctx, method, m.Data)
	resp := Response{OK: err == nil, Result: result}
	if err != nil {
		kind := tilgang.KindOf(err)
		msg := err.Error()
		if kind == tilgang.Internal {
			s.log().Error("api call failed", "method", method, "actor", actor, "err", err)
			msg = "internal error: see the worker log"
		}
		resp.Error = &ErrorBody{Kind: kind, Message: msg}
		resp.Result = nil
	}
	body, merr := json.Marshal(resp)
	if merr != nil {
		s.log().Error("api marshal response", "method", method, "err", merr)
		body, _ = json.Marshal(Response{Error: &ErrorBody{Kind: tilgang.Internal, Message: "internal error: see the worker log"}})
	}
	if err := respond(nc, m, body); err != nil {
		s.log().Warn("api respond", "method", method, "actor", actor, "err", err)
	}
	s.log().Debug("api call", "method", method, "actor", actor, "ok", err == nil, "kind", tilgang.KindOf(err),
		"bytes", len(body), "duration_ms", time.Since(start).Milliseconds())
}

// respond sends body to the reply inbox, in parts when it is larger than
// the connection's max payload (see the package doc).
func respond(nc *nats.Conn, m *nats.Msg, body []byte) error {
	limit := int(nc.MaxPayload()) - 1024 // room for the header
	if limit < 1024 {
		limit = 1024
	}
	if len(body) <= limit {
		return m.Respond(body)
	}
	n := (len(body) + limit - 1) / limit
	for i := range n {
		part := body[i*limit : min((i+1)*limit, len(body))]
		msg := &nats.Msg{Subject: m.Reply, Data: part, Header: nats.Header{}}
		msg.Header.Set(PartHeader, partHeader(i+1, n))
		if err := nc.PublishMsg(msg); err != nil {
			return err
		}
	}
	return nil
}

// Call decodes, authenticates and answers one call body for method, as
// Serve does for each message; actor is who asked ("" when the body did
// not decode).
func (s *Server) Call(ctx context.Context, method string, body []byte) (result json.RawMessage, actor string, err error) {
	req, t, err := decodeRequest(body)
	if err != nil {
		return nil, "", err
	}
	if err := s.authenticate(method, req, t); err != nil {
		return nil, req.Actor, err
	}
	h, ok := handlers[method]
	if !ok {
		return nil, req.Actor, tilgang.Errorf(tilgang.NotFound, "api: no method %q; the methods are %s", short(method), strings.Join(methodNames(), ", "))
	}
	v := s.viewer(ctx, req.Actor)
	res, err := h(s, ctx, v, req.Args)
	if err != nil {
		return nil, req.Actor, err
	}
	return mustJSON(res), req.Actor, nil
}

var sigEncoding = base64.RawURLEncoding.Strict()

// authenticate checks the signature as principals.Set.Verify checks an
// envelope's, then the time window, then that the nonce is fresh.
func (s *Server) authenticate(method string, req *Request, t time.Time) error {
	set := s.principals()
	signer := req.Signer()
	role := "actor"
	if req.Via != "" {
		role = "via"
	}
	if req.Sig == "" {
		return deniedf("unsigned request: sig is missing (%s %q must sign)", role, signer)
	}
	if _, ok := set.Get(signer); !ok {
		return deniedf("unknown signer: %s %q has no key in the principals file", role, signer)
	}
	sig, err := sigEncoding.DecodeString(req.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return deniedf("bad signature: sig is not an unpadded base64url Ed25519 signature")
	}
	now := s.now()
	// The key check of messages too: the current key, or a retired one
	// before its until.
	switch err := set.VerifySig(signer, SigningInput(method, req.Actor, req.Via, req.Time, req.Nonce, req.Args), sig, now); {
	case errors.Is(err, principals.ErrRevoked):
		return deniedf("revoked signer: the keys of %s %q are revoked", role, signer)
	case err != nil:
		return deniedf("bad signature: sig does not verify with the key of %s %q", role, signer)
	}
	if err := set.MayActFor(req.Via, req.Actor); err != nil {
		return err // the rule for messages too: via acts for persons only
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return deniedf("request time %s is more than %s off the worker's clock (%s): check the clock", req.Time, MaxSkew, now.UTC().Format(time.RFC3339))
	}
	return s.fresh(signer, req.Nonce, t, now)
}

// fresh remembers (signer, nonce) until the request's time has left the
// window, refusing a repeat. Per replica: a call replayed to another replica
// is not caught, but it reads only what the signer may read and its answer
// goes to whoever sent it.
func (s *Server) fresh(signer, nonce string, t, now time.Time) error {
	key := signer + "\n" + nonce
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	if s.replay == nil {
		s.replay = map[string]time.Time{}
	}
	if until, ok := s.replay[key]; ok && now.Before(until) {
		return deniedf("replayed request: %q already used nonce %q", signer, nonce)
	}
	if len(s.replay) >= maxReplay {
		for k, until := range s.replay {
			if !now.Before(until) {
				delete(s.replay, k)
			}
		}
		if len(s.replay) >= maxReplay {
			return tilgang.Errorf(tilgang.Throttled, "api: too many calls in the last %s", 2*MaxSkew)
		}
	}
	s.replay[key] = t.Add(MaxSkew + time.Second)
	return nil
}

func (s *Server) principals() *principals.Set {
	if s.Principals == nil {
		return nil
	}
	return s.Principals()
}

func (s *Server) catalogue() *policy.Catalogue {
	if s.Catalogue == nil {
		return nil
	}
	return s.Catalogue()
}
