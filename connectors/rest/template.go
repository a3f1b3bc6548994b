package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Data is what a request template sees.
type Data struct {
	Person      tilgang.Person
	Main        tilgang.Employment // the main employment (Person.Main), zero when none
	Ref         connectors.Ref     // what EnsureAccount stored: "id" and the ref fields of its answer
	Entitlement string             // grant and revoke: the entitlement value from the catalogue
	Enabled     bool               // ensure_account: create the account enabled
	Instance    string             // the connector instance name
	// Reads only (reads.accounts, reads.members): where the page begins.
	Page   int    // 1 for the first page, then 2, 3, ...
	Offset int    // the items read before this page
	Cursor string // the cursor the page before gave (paging.cursor); "" for the first
}

// escapers are the functions a printed value must end in, by place.
var funcs = template.FuncMap{
	// json renders any value as a JSON value: a string comes quoted, with
	// quotes, backslashes and control characters escaped.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// path escapes one path segment; "/" is escaped too, and "." and ".."
	// (which would climb the path, and which url.PathEscape leaves as they
	// are) are refused: the operation fails as Invalid, nothing is sent.
	"path": func(v any) (string, error) {
		s := fmt.Sprint(v)
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("%q cannot be a path segment", s)
		}
		return url.PathEscape(s), nil
	},
	// query escapes a query parameter's name or value; only after "?".
	"query": func(v any) string { return url.QueryEscape(fmt.Sprint(v)) },
	// header refuses control characters, which would end the header.
	"header": func(v any) (string, error) {
		s := fmt.Sprint(v)
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return "", fmt.Errorf("a header value holds a control character")
		}
		return s, nil
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

// parseTemplate parses src and checks that every action that prints ends
// in one of the escapers.
func parseTemplate(src string, escapers ...string) (*template.Template, error) {
	return parseChecked(src, func(n *parse.ActionNode, _ place) string {
		if endsIn(n, escapers...) {
			return ""
		}
		return fmt.Sprintf("%s must end with | %s, so that a value cannot break out", n, strings.Join(escapers, " or | "))
	})
}

// parsePathTemplate parses a request path: an action before the first "?"
// must end in path, one after it in query. query leaves "." and ".." as
// they are, which in the path climb to the parent; path leaves "&" and
// "=", which in the query start another parameter. Every escaper escapes
// "?", so only the template's own text can hold the "?" that divides them.
func parsePathTemplate(src string) (*template.Template, error) {
	return parseChecked(src, func(n *parse.ActionNode, at place) string {
		switch at {
		case inPath:
			if !endsIn(n, "path") {
				return fmt.Sprintf(`%s is in the path (before "?"): it must end with | path`, n)
			}
		case inQuery:
			if !endsIn(n, "query") {
				return fmt.Sprintf(`%s is in the query (after "?"): it must end with | query`, n)
			}
		default:
			return fmt.Sprintf(`%s may be in the path or in the query, depending on the data: put the "?" outside {{if}}, {{with}} and {{range}}`, n)
		}
		return ""
	})
}

// place is where in a URL an action prints.
type place int

const (
	inPath  place = iota // no "?" before it
	inQuery              // a "?" before it
	unsure               // a "?" before it on some ways through the template only
)

// parseChecked parses src and asks check about every action that prints,
// with its place in a URL; check returns a problem or "".
func parseChecked(src string, check func(n *parse.ActionNode, at place) string) (*template.Template, error) {
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("define and template are not supported")
	}
	if t.Tree == nil {
		return t, nil
	}
	var probs []string
	// walk returns the place after n, given the place before it.
	var walk func(n parse.Node, at place) place
	branches := func(at place, lists ...*parse.ListNode) place {
		out := at
		for i, l := range lists {
			after := walk(l, at)
			if i == 0 {
				out = after
			} else if after != out {
				out = unsure
			}
		}
		return out
	}
	walk = func(n parse.Node, at place) place {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return at
			}
			for _, c := range n.Nodes {
				at = walk(c, at)
			}
		case *parse.TextNode:
			if at != inQuery && bytes.ContainsRune(n.Text, '?') {
				return inQuery
			}
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				return at // {{ $x := ... }} prints nothing
			}
			if p := check(n, at); p != "" {
				probs = append(probs, p)
			}
		case *parse.IfNode:
			return branches(at, n.List, n.ElseList)
		case *parse.WithNode:
			return branches(at, n.List, n.ElseList)
		case *parse.RangeNode:
			// The body runs any number of times: after it, and in its
			// second run, the place is what it was or what the body left.
			after := branches(at, n.List, n.ElseList)
			if after != at {
				at = unsure
				after = branches(at, n.List, n.ElseList)
			}
			return after
		case *parse.TemplateNode:
			probs = append(probs, "{{template}} is not supported")
		}
		return at
	}
	walk(t.Tree.Root, inPath)
	if len(probs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(slices.Compact(probs), "; "))
	}
	return t, nil
}

// endsIn says whether the action's pipeline ends in one of the functions.
func endsIn(n *parse.ActionNode, escapers ...string) bool {
	last := n.Pipe.Cmds[len(n.Pipe.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && contains(escapers, id.Ident)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type tmpl = *template.Template

// op is one compiled operation.
type op struct {
	name    string // operations.grant, reads.accounts, ...
	list    *List  // reads only
	req     Request
	path    tmpl
	body    tmpl // nil: no body
	headers map[string]tmpl
}

// rendered is a request ready to send.
type rendered struct {
	method  string
	path    string
	headers map[string]string
	body    []byte
}

func execute(t tmpl, d Data) (string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// render fills the templates; an error is the config's or the data's
// fault (Invalid at the caller), never the server's.
func (o *op) render(d Data) (*rendered, error) {
	r := &rendered{method: o.req.Method, headers: map[string]string{}}
	var err error
	if r.path, err = execute(o.path, d); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if o.body != nil {
		s, err := execute(o.body, d)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("body is not JSON once rendered: %s", s)
		}
		r.body = []byte(s)
	}
	for k, t := range o.headers {
		if r.headers[k], err = execute(t, d); err != nil {
			return nil, fmt.Errorf("headers[%s]: %w", k, err)
		}
	}
	return r, nil
}

// sampleData is a person whose every value tries to break out, for
// rendering each template once at start-up.
func sampleData(refKeys []string) Data {
	p := tilgang.Person{ID: "1547-0", GivenName: `Ola", "admin": true, "x": "`, FamilyName: "../../Nordmann?x=1#y",
		Email: "ola@example.test", Municipality: "1547",
		Employments: []tilgang.Employment{{ID: "e1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier"}}}
	ref := connectors.Ref{"id": p.ID}
	for _, k := range refKeys {
		ref[k] = "sample-" + k
	}
	m, _ := p.Main()
	return Data{Person: p, Main: m, Ref: ref, Entitlement: `Rolle "A"/../admin`, Enabled: true, Instance: "sample"}
}

// field reads a dotted field (a.b.0.c) from decoded JSON; ok is false when
// it is missing. Strings come as they are, anything else as JSON.
func field(v any, path string) (string, bool) {
	v, ok := value(v, path)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case nil:
		return "", false
	default:
		b, _ := json.Marshal(x)
		return string(b), true
	}
}

// value reads a dotted field from decoded JSON as it was decoded.
func value(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(part, "%d", &i); err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
