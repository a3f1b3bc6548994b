package rest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Reading is a rest instance whose config has reads: the connector plus
// connectors.Reader, so reconciliation can list it. An instance without
// reads is a plain *Connector, which reconciliation skips.
type Reading struct{ *Connector }

var _ connectors.Reader = Reading{}

// Instance is the connector as the registry hands it out: a Reading when
// the config has reads, else c itself.
func (c *Connector) Instance() connectors.Connector {
	if c.c.ops["reads.accounts"] != nil {
		return Reading{c}
	}
	return c
}

// maxPages bounds a listing, so a system that never ends one (a next link
// that loops through different URLs, a page parameter it ignores while
// returning new ids) stops with an error instead of running for ever.
const maxPages = 100_000

// EachAccount pages through reads.accounts and yields every item that
// carries the person field. An item without a key or enabled field, or a
// last_sign_in that is not RFC 3339, fails the read (Unavailable): the
// answer is not what the config says it is.
func (r Reading) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	o := r.c.ops["reads.accounts"]
	l := o.list
	equals := l.Enabled.Equals
	if equals == "" {
		equals = "true"
	}
	return r.each(ctx, o, Data{}, "list the accounts", func(item any) error {
		person, ok := field(item, l.Person)
		if !ok || person == "" {
			return nil // not an account this instance manages
		}
		key, err := itemKey(item, l.Key)
		if err != nil {
			return err
		}
		on, ok := field(item, l.Enabled.Field)
		if !ok {
			return fmt.Errorf("account %s has no %s", key, l.Enabled.Field)
		}
		a := connectors.TargetAccount{Key: key, Person: person, Enabled: on == equals, Ref: itemRef(item, l.Ref)}
		// As Resolve gives it, so that a fix renders what an operation would.
		if _, set := a.Ref["id"]; !set {
			a.Ref["id"] = person
		}
		if l.LastSignIn != "" {
			if v, ok := field(item, l.LastSignIn); ok && v != "" {
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return fmt.Errorf("account %s: %s %q is not an RFC 3339 time", key, l.LastSignIn, v)
				}
				t = t.UTC()
				a.LastSignIn = &t
			}
		}
		return &yield{fn(a)}
	})
}

// EachMember pages through reads.members for the entitlement and yields
// each item's key.
func (r Reading) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	o := r.c.ops["reads.members"]
	l := o.list
	return r.each(ctx, o, Data{Entitlement: ent}, "list the members of "+ent, func(item any) error {
		key, err := itemKey(item, l.Key)
		if err != nil {
			return err
		}
		var ref connectors.Ref
		if len(l.Ref) > 0 {
			ref = itemRef(item, l.Ref)
		}
		return &yield{fn(connectors.Member{Key: key, Ref: ref})}
	})
}

// yield carries the caller's own result (nil or its error) out of each,
// so that it is returned unchanged and not taken for a bad answer.
type yield struct{ err error }

func (y *yield) Error() string { return fmt.Sprint(y.err) }

// each sends the listing's first request, then follows its paging to the
// end, calling item for every element of every page. Any failure (an
// answer that is not a success, a page without its items array, a next
// link off base_url's host, a listing shorter than its announced total, a
// page that repeats the one before) is an error naming what and where.
func (r Reading) each(ctx context.Context, o *op, d Data, what string, item func(any) error) error {
	l := o.list
	p := l.Paging
	d.Instance = r.name
	read, total := 0, -1
	var prevFirst, nextURL string
	seen := map[string]bool{}
	for page := 1; ; page++ {
		if page > maxPages {
			return tilgang.Errorf(tilgang.Unavailable, "rest: %s: more than %d pages; the paging does not end", what, maxPages)
		}
		d.Page, d.Offset = page, read
		rd, err := o.render(d)
		if err != nil {
			return tilgang.Wrap(tilgang.Invalid, err, "rest: %s: request template", what)
		}
		u := strings.TrimRight(r.c.base.String(), "/") + rd.path
		if nextURL != "" {
			u = nextURL
		}
		ans, err := r.send(ctx, o, rd, u, fmt.Sprintf("%s, page %d", what, page))
		if err != nil {
			return err
		}
		items, err := pageItems(ans, l.Items)
		if err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "rest: %s, page %d", what, page)
		}
		if p.Total != "" && total < 0 {
			v, ok := field(ans.json, p.Total)
			if _, err := fmt.Sscanf(v, "%d", &total); !ok || err != nil || total < 0 {
				return tilgang.Errorf(tilgang.Unavailable, "rest: %s, page %d: the answer has no count at %s", what, page, p.Total)
			}
		}
		if len(items) > 0 {
			// A system that ignores the page parameter answers the first
			// page again and again; without this the read would loop.
			first, _ := itemKey(items[0], l.Key)
			if page > 1 && first != "" && first == prevFirst {
				return tilgang.Errorf(tilgang.Unavailable, "rest: %s: page %d begins as page %d did (%s): the paging does not advance", what, page, page-1, first)
			}
			prevFirst = first
		}
		for _, it := range items {
			read++
			if err := item(it); err != nil {
				var y *yield
				if errors.As(err, &y) {
					if y.err != nil {
						return y.err
					}
					continue
				}
				return tilgang.Wrap(tilgang.Unavailable, err, "rest: %s, page %d", what, page)
			}
		}
		more := false
		switch {
		case p.Next != "":
			next, _ := field(ans.json, p.Next)
			if next != "" {
				if nextURL, err = r.sameOrigin(next); err != nil {
					return tilgang.Wrap(tilgang.Unavailable, err, "rest: %s, page %d", what, page)
				}
				more = true
			}
		case p.Cursor != "":
			d.Cursor, _ = field(ans.json, p.Cursor)
			more = d.Cursor != ""
		default:
			more = len(items) > 0 && (p.PageSize == 0 || len(items) >= p.PageSize)
		}
		if more {
			mark := nextURL + "\x00" + d.Cursor
			if (p.Next != "" || p.Cursor != "") && seen[mark] {
				return tilgang.Errorf(tilgang.Unavailable, "rest: %s, page %d: the system gave the same next page twice", what, page)
			}
			seen[mark] = true
			continue
		}
		if total >= 0 && read < total {
			return connectors.ShortRead("rest: "+what, read, total)
		}
		return nil
	}
}

// pageItems is the page's array at the items field; a page without one
// (an error body with a 200, a field renamed) is an error, never "none".
func pageItems(a *answer, at string) ([]any, error) {
	if a.json == nil {
		return nil, fmt.Errorf("the answer is not JSON: %s", truncate(string(a.body), 200))
	}
	v := a.json
	if at != "" {
		var ok bool
		if v, ok = value(a.json, at); !ok {
			return nil, fmt.Errorf("the answer has no %s", at)
		}
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s in the answer is not an array", cmpOr(at, "the answer"))
	}
	return items, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func itemKey(item any, at string) (string, error) {
	k, ok := field(item, at)
	if !ok || k == "" {
		return "", fmt.Errorf("an item has no %s", at)
	}
	return k, nil
}

func itemRef(item any, fields map[string]string) connectors.Ref {
	ref := connectors.Ref{}
	for k, f := range fields {
		if v, ok := field(item, f); ok {
			ref[k] = v
		}
	}
	return ref
}

// sameOrigin resolves a next link against base_url and refuses one on
// another scheme or host, which would carry the credentials elsewhere.
func (c *Connector) sameOrigin(next string) (string, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("the next link %q: %v", next, err)
	}
	u = c.c.base.ResolveReference(u)
	if u.Scheme != c.c.base.Scheme || u.Host != c.c.base.Host {
		return "", fmt.Errorf("the next link %q leads off %s://%s; refused", next, c.c.base.Scheme, c.c.base.Host)
	}
	return u.String(), nil
}
