package graphemu

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The $filter support below follows the table of filterable user properties
// in Microsoft's documentation (includes/filter-directory-objects.md, used by
// concepts/aad-advanced-queries.md): for each property, which operators work
// by default and which only as an advanced query (ConsistencyLevel: eventual
// and $count=true). A property or operator not in the table is refused as
// Graph refuses it.

// support marks an operator as working by default or only in an advanced query.
type support int

const (
	unsupported support = iota
	byDefault
	advancedOnly
)

// ops is a property's operator support: eq, ne, ge, le, in, startsWith, and
// comparisons with null.
type ops struct{ eq, ne, ge, le, in, startsWith, null support }

const (
	def = byDefault
	aqp = advancedOnly
)

// userFilter is the documented table for users (the rows the emulator keeps
// properties for). "The in operator is supported by default whenever eq
// operator is supported by default" (aad-advanced-queries.md).
var userFilter = map[string]ops{
	"accountEnabled":        {eq: def, ne: aqp, ge: aqp, le: aqp, in: def},
	"city":                  {eq: def, ne: aqp, ge: def, in: def, startsWith: def, null: aqp},
	"country":               {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def, null: aqp},
	"department":            {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def, null: aqp},
	"displayName":           {eq: def, ne: aqp, in: def, startsWith: def, null: aqp},
	"employeeId":            {eq: def, ne: aqp, le: aqp, in: def, startsWith: def, null: aqp},
	"givenName":             {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def, null: aqp},
	"id":                    {eq: def, ne: aqp, in: def},
	"jobTitle":              {eq: def, ne: aqp, ge: def, le: def, in: def, null: aqp},
	"mail":                  {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def},
	"mailNickname":          {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def, null: aqp},
	"onPremisesSyncEnabled": {eq: def, ne: aqp, ge: aqp, le: aqp, in: def},
	"surname":               {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def, null: aqp},
	"usageLocation":         {eq: def, ne: aqp, ge: def, le: def, in: def, startsWith: def},
	"userPrincipalName":     {eq: def, ne: aqp, le: def, in: def, startsWith: def},
	// user-list.md: signInActivity supports $filter (eq, ne, not, ge, le)
	// but not with any other filterable properties.
	"signInActivity/lastSignInDateTime":               {eq: def, ne: aqp, ge: def, le: def},
	"signInActivity/lastNonInteractiveSignInDateTime": {eq: def, ne: aqp, ge: def, le: def},
}

// groupFilter is what the emulator filters groups by.
var groupFilter = map[string]ops{
	"displayName":  {eq: def, ne: aqp, in: def, startsWith: def, null: aqp},
	"id":           {eq: def, ne: aqp, in: def},
	"mailNickname": {eq: def, ne: aqp, in: def, startsWith: def, null: aqp},
}

// cond is one clause of a $filter.
type cond struct {
	prop string
	op   string // eq, ne, ge, le, in, startsWith
	vals []literal
}

// literal is a value in a $filter: a quoted string, true/false, null, a
// number or an unquoted DateTimeOffset.
type literal struct {
	s    string
	null bool
	bool *bool
	time *time.Time
}

var (
	reCompare    = regexp.MustCompile(`(?i)^\s*([A-Za-z][\w/]*)\s+(eq|ne|ge|le)\s+('(?:[^']|'')*'|[^\s()']+)\s*$`)
	reStartsWith = regexp.MustCompile(`(?i)^\s*startswith\(\s*([A-Za-z][\w/]*)\s*,\s*('(?:[^']|'')*')\s*\)\s*$`)
	reIn         = regexp.MustCompile(`(?i)^\s*([A-Za-z][\w/]*)\s+in\s+\(\s*((?:'(?:[^']|'')*'\s*,?\s*)+)\)\s*$`)
	reQuoted     = regexp.MustCompile(`'((?:[^']|'')*)'`)
	reAnd        = regexp.MustCompile(`(?i)\s+and\s+`)
)

func parseLiteral(tok string) (literal, bool) {
	if strings.HasPrefix(tok, "'") {
		return literal{s: strings.ReplaceAll(tok[1:len(tok)-1], "''", "'")}, true
	}
	switch strings.ToLower(tok) {
	case "null":
		return literal{null: true}, true
	case "true", "false":
		b := strings.EqualFold(tok, "true")
		return literal{bool: &b, s: strings.ToLower(tok)}, true
	}
	if t, err := time.Parse(time.RFC3339, tok); err == nil {
		return literal{time: &t, s: tok}, true
	}
	if _, err := strconv.ParseFloat(tok, 64); err == nil {
		return literal{s: tok}, true
	}
	return literal{}, false
}

// queryError is a refused query: status, code and message as Graph words them.
type queryError struct {
	status        int
	code, message string
}

func (e *queryError) resp() response { return errResp(e.status, e.code, e.message) }

func unsupportedClause(prop, resource string) *queryError {
	return &queryError{400, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, resource)}
}

// needsAdvanced is Graph's answer to an advanced-only operator without the
// advanced query parameters (aad-advanced-queries.md, "Error handling").
func needsAdvanced(op string) *queryError {
	return &queryError{400, "Request_UnsupportedQuery", fmt.Sprintf("Operator '%s' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information", op)}
}

// parseFilter parses f against a property table; adv tells whether the
// request is an advanced query.
func parseFilter(f string, table map[string]ops, resource string, adv bool) ([]cond, *queryError) {
	if strings.TrimSpace(f) == "" {
		return nil, nil
	}
	var out []cond
	signIn := false
	for _, part := range reAnd.Split(f, -1) {
		var c cond
		switch {
		case reStartsWith.MatchString(part):
			m := reStartsWith.FindStringSubmatch(part)
			l, _ := parseLiteral(m[2])
			c = cond{prop: m[1], op: "startsWith", vals: []literal{l}}
		case reIn.MatchString(part):
			m := reIn.FindStringSubmatch(part)
			c = cond{prop: m[1], op: "in"}
			for _, q := range reQuoted.FindAllStringSubmatch(m[2], -1) {
				c.vals = append(c.vals, literal{s: strings.ReplaceAll(q[1], "''", "'")})
			}
		case reCompare.MatchString(part):
			m := reCompare.FindStringSubmatch(part)
			l, ok := parseLiteral(m[3])
			if !ok {
				return nil, &queryError{400, "BadRequest", fmt.Sprintf("Invalid filter clause: the value %s is not a literal.", m[3])}
			}
			c = cond{prop: m[1], op: strings.ToLower(m[2]), vals: []literal{l}}
		default:
			return nil, &queryError{400, "BadRequest", fmt.Sprintf("Invalid filter clause: %q is not a supported expression.", strings.TrimSpace(part))}
		}
		o, known := table[c.prop]
		if !known {
			return nil, unsupportedClause(c.prop, resource)
		}
		var s support
		switch c.op {
		case "eq":
			s = o.eq
		case "ne":
			s = o.ne
		case "ge":
			s = o.ge
		case "le":
			s = o.le
		case "in":
			s = o.in
		case "startsWith":
			s = o.startsWith
		}
		if len(c.vals) == 1 && c.vals[0].null {
			switch {
			case c.op != "eq" && c.op != "ne", o.null == unsupported:
				s = unsupported
			case o.null == advancedOnly:
				s = advancedOnly
			}
		}
		switch {
		case s == unsupported:
			return nil, unsupportedClause(c.prop, resource)
		case s == advancedOnly && !adv:
			return nil, needsAdvanced(c.op)
		}
		if strings.HasPrefix(c.prop, "signInActivity/") {
			signIn = true
		}
		out = append(out, c)
	}
	if signIn && len(out) > 1 {
		// user-list.md: signInActivity filters not with any other property.
		return nil, unsupportedClause("signInActivity", resource)
	}
	return out, nil
}

// value is the property a condition looks at, as a string (empty for null).
func (o *object) value(prop string) (string, bool) {
	if rest, ok := strings.CutPrefix(prop, "signInActivity/"); ok {
		if o.signIn == nil {
			return "", false
		}
		v, _ := o.signIn.props()[rest].(string)
		return v, v != ""
	}
	v, ok := o.props[prop]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case bool:
		return strconv.FormatBool(x), true
	}
	return fmt.Sprint(v), true
}

func (c cond) match(o *object) bool {
	v, present := o.value(c.prop)
	if len(c.vals) == 1 && c.vals[0].null {
		return (c.op == "eq") == !present
	}
	cmp := func(l literal) int {
		if l.time != nil {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return -2 // not comparable
			}
			return t.Compare(*l.time)
		}
		return strings.Compare(strings.ToLower(v), strings.ToLower(l.s))
	}
	switch c.op {
	case "eq":
		return present && cmp(c.vals[0]) == 0
	case "ne":
		return !present || cmp(c.vals[0]) != 0
	case "ge":
		r := cmp(c.vals[0])
		return present && r >= 0
	case "le":
		r := cmp(c.vals[0])
		return present && r != -2 && r <= 0
	case "startsWith":
		return present && strings.HasPrefix(strings.ToLower(v), strings.ToLower(c.vals[0].s))
	case "in":
		for _, l := range c.vals {
			if present && cmp(l) == 0 {
				return true
			}
		}
	}
	return false
}

// advancedQuery tells whether the request carries Graph's advanced query
// parameters: the ConsistencyLevel: eventual header and $count=true.
func advancedQuery(h http.Header, q url.Values) bool {
	return eventual(h) && strings.EqualFold(q.Get("$count"), "true")
}

func eventual(h http.Header) bool {
	return strings.EqualFold(strings.TrimSpace(h.Get("ConsistencyLevel")), "eventual")
}

// signInActivity is what Graph keeps of a user's sign-ins (signinactivity.md):
// the last interactive attempt, successful or not (lastSignInDateTime), the
// last non-interactive sign-in, and the last successful sign-in of either
// kind (lastSuccessfulSignInDateTime), each with its request id.
type signInActivity struct {
	last, lastNonInteractive, lastSuccessful    time.Time
	lastID, lastNonInteractiveID, lastSuccessID string
}

func (s *signInActivity) props() map[string]any {
	out := map[string]any{}
	for _, v := range []struct {
		name string
		at   time.Time
		id   string
	}{{"lastSignIn", s.last, s.lastID}, {"lastNonInteractiveSignIn", s.lastNonInteractive, s.lastNonInteractiveID},
		{"lastSuccessfulSignIn", s.lastSuccessful, s.lastSuccessID}} {
		out[v.name+"DateTime"], out[v.name+"RequestId"] = nil, nil
		if !v.at.IsZero() {
			out[v.name+"DateTime"] = v.at.UTC().Format(time.RFC3339)
			out[v.name+"RequestId"] = v.id
		}
	}
	return out
}

// selects tells whether $select names prop.
func selects(q url.Values, prop string) bool {
	for _, f := range strings.Split(q.Get("$select"), ",") {
		if strings.EqualFold(strings.TrimSpace(f), prop) {
			return true
		}
	}
	return false
}
