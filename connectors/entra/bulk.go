package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// maxBatch is Graph's limit for both $batch and members@odata.bind.
const maxBatch = 20

// itemError is a failed request inside a $batch, read like any Graph error.
type itemError struct {
	g          graphError
	retryAfter time.Duration
}

func (e *itemError) Error() string {
	return fmt.Sprintf("graph %d %s: %s", e.g.status, e.g.code, e.g.message)
}

type batchItem struct {
	method string
	url    string // relative to the Graph URL, e.g. /groups/{id}/members/$ref
	body   any
}

// batch sends items as JSON batches of at most 20 and returns one error
// (nil for success) per item. Items answered 429 or 503 are sent again after
// the longest Retry-After among them, bounded by max_retries; every other
// inner failure is that item's own.
func (c *Connector) batch(ctx context.Context, items []batchItem) []error {
	errs := make([]error, len(items))
	pending := make([]int, len(items))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		var again []int
		var wait time.Duration
		for start := 0; start < len(pending); start += maxBatch {
			chunk := pending[start:min(start+maxBatch, len(pending))]
			res, err := c.sendBatch(ctx, items, chunk)
			for _, i := range chunk {
				if err != nil {
					errs[i] = err
					continue
				}
				errs[i] = res[i]
				var ie *itemError
				if asItem(res[i], &ie) && (ie.g.status == 429 || ie.g.status == 503) {
					again = append(again, i)
					wait = max(wait, ie.retryAfter)
				}
			}
		}
		if len(again) == 0 || attempt >= c.cfg.MaxRetries {
			break
		}
		if wait == 0 {
			wait = backoff(attempt)
		}
		if wait > c.cfg.MaxRetryWait || outlasts(ctx, wait) {
			break // the items keep their 429 and its Retry-After
		}
		if err := sleep(ctx, wait); err != nil {
			break
		}
		pending = again
	}
	return errs
}

func asItem(err error, ie **itemError) bool {
	e, ok := err.(*itemError)
	if ok {
		*ie = e
	}
	return ok
}

func (c *Connector) sendBatch(ctx context.Context, items []batchItem, chunk []int) (map[int]error, error) {
	type req struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
		Body    any               `json:"body,omitempty"`
	}
	var reqs []req
	for _, i := range chunk {
		r := req{ID: strconv.Itoa(i), Method: items[i].method, URL: items[i].url, Body: items[i].body}
		if r.Body != nil {
			r.Headers = map[string]string{"Content-Type": "application/json"}
		}
		reqs = append(reqs, r)
	}
	var raw []byte
	err := c.call(ctx, func(ctx context.Context) error {
		ri := jsonBody(c.request(abs.POST, "/$batch", nil), map[string]any{"requests": reqs})
		res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errMap)
		if err == nil {
			raw, _ = res.([]byte)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			} `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "$batch response")
	}
	res := map[int]error{}
	for _, i := range chunk {
		res[i] = tilgang.Errorf(tilgang.Unavailable, "$batch answered nothing for request %d", i)
	}
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if _, ours := res[i]; err != nil || !ours {
			continue
		}
		if r.Status < 400 {
			res[i] = nil
			continue
		}
		ie := &itemError{g: graphError{status: r.Status, code: r.Body.Error.Code, message: r.Body.Error.Message}}
		for k, v := range r.Headers {
			if strings.EqualFold(k, "Retry-After") {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					ie.retryAfter = time.Duration(n) * time.Second
				}
			}
		}
		res[i] = ie
	}
	return res, nil
}

// GrantMany makes the accounts members of one group: up to 20 at a time in
// one PATCH with members@odata.bind, and where Graph refuses such a PATCH
// (all or nothing: one member already there or missing), one $batch of
// single adds for those 20, each answer handled on its own. The result has
// one error (nil for success) per account.
func (c *Connector) GrantMany(ctx context.Context, accounts []connectors.Account, ent string) []error {
	var errs []error
	err := c.inGroup(ctx, ent, func(g group) error {
		if g.synced {
			return syncedError("group " + g.name)
		}
		errs = make([]error, len(accounts))
		return c.grantMany(ctx, accounts, ent, g, errs)
	})
	if err != nil {
		errs = make([]error, len(accounts))
		for i := range errs {
			errs[i] = classify(err, "entra: grant %s to %s", ent, accounts[i].Person.ID)
		}
	}
	return errs
}

// grantMany fills errs; it returns errGroupGone when the group was deleted
// since it was looked up (the adds then start over against the new one).
func (c *Connector) grantMany(ctx context.Context, accounts []connectors.Account, ent string, g group, errs []error) error {
	var idx []int
	var uids []string
	for i, a := range accounts {
		uid, err := c.userID(ctx, a)
		if err == nil && uid == "" {
			err = tilgang.Errorf(tilgang.NotFound, "no user for person %s", a.Person.ID)
		}
		if err != nil {
			errs[i] = classify(err, "entra: grant %s to %s", ent, a.Person.ID)
			continue
		}
		idx = append(idx, i)
		uids = append(uids, uid)
	}
	for start := 0; start < len(uids); start += maxBatch {
		end := min(start+maxBatch, len(uids))
		var binds []string
		for _, uid := range uids[start:end] {
			binds = append(binds, c.memberRef(uid)["@odata.id"])
		}
		err := c.call(ctx, func(ctx context.Context) error {
			ri := jsonBody(c.request(abs.PATCH, "/groups/"+g.id, nil), map[string]any{"members@odata.bind": binds})
			return c.adapter.SendNoContent(ctx, ri, errMap)
		})
		if err == nil {
			continue
		}
		if is404(err) && c.groupGone(ctx, ent, g) {
			return goneError(g)
		}
		if ge, ok := asGraph(err); !ok || (ge.status != 400 && ge.status != 404) {
			for _, i := range idx[start:end] {
				errs[i] = classify(err, "entra: grant %s to %s", ent, accounts[i].Person.ID)
			}
			continue
		}
		var items []batchItem
		for _, uid := range uids[start:end] {
			items = append(items, batchItem{method: "POST", url: "/groups/" + g.id + "/members/$ref", body: c.memberRef(uid)})
		}
		for k, err := range c.batch(ctx, items) {
			if ge, ok := asGraph(err); ok && ge.status == 400 && strings.Contains(ge.message, msgAlreadyMember) {
				err = nil
			}
			i := idx[start+k]
			errs[i] = classify(err, "entra: grant %s to %s", ent, accounts[i].Person.ID)
		}
	}
	return nil
}

// RevokeMany removes the accounts from one group in $batch requests of 20
// removals; a member already gone is success (unless the group itself is
// gone: then the removals start over against the group looked up again).
// One error per account.
func (c *Connector) RevokeMany(ctx context.Context, accounts []connectors.Account, ent string) []error {
	var errs []error
	err := c.inGroup(ctx, ent, func(g group) error {
		if g.synced {
			return syncedError("group " + g.name)
		}
		errs = make([]error, len(accounts))
		var items []batchItem
		var idx []int
		for i, a := range accounts {
			var uid string
			uid, errs[i] = c.userID(ctx, a)
			if errs[i] == nil && uid != "" {
				items = append(items, batchItem{method: "DELETE", url: "/groups/" + g.id + "/members/" + uid + "/$ref"})
				idx = append(idx, i)
			}
		}
		checked := false
		for k, err := range c.batch(ctx, items) {
			if ge, ok := asGraph(err); ok && ge.status == 404 && ge.code == "Request_ResourceNotFound" {
				if !checked && c.groupGone(ctx, ent, g) {
					return goneError(g)
				}
				checked = true
				err = nil
			}
			errs[idx[k]] = err
		}
		return nil
	})
	if err != nil {
		errs = make([]error, len(accounts))
		for i := range errs {
			errs[i] = err
		}
	}
	for i := range errs {
		errs[i] = classify(errs[i], "entra: revoke %s from %s", ent, accounts[i].Person.ID)
	}
	return errs
}
