package browser

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// AxeTags are the axe-core rule tags that Axe runs: WCAG 2.0 and 2.1, levels
// A and AA, which the public sector's web accessibility rules require.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// Violation is a rule of axe-core that the page breaks.
type Violation struct {
	ID      string          `json:"id"`     // the rule, e.g. "image-alt"
	Impact  string          `json:"impact"` // "minor", "moderate", "serious" or "critical"
	Help    string          `json:"help"`   // what the rule asks, in a sentence
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"` // the elements that break it
}

// ViolationNode is an element that breaks a rule.
type ViolationNode struct {
	Target  []string `json:"target"`  // CSS selectors to the element (" >>> " into frames and shadow roots)
	HTML    string   `json:"html"`    // the element's opening tag, as axe-core quotes it
	Summary string   `json:"summary"` // what to fix
}

// axeSources caches axe.min.js by its path: it is 650 KB, read once.
var axeSources sync.Map

func axeSource(path string) (string, error) {
	if v, ok := axeSources.Load(path); ok {
		return v.(string), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read axe-core: %w", err)
	}
	axeSources.Store(path, string(b))
	return string(b), nil
}

// axeRunJS runs axe-core on the document with AxeTags and keeps of the
// violations what a reader of a failed test needs.
var axeRunJS = `axe.run(document, {runOnly: {type: 'tag', values: ` + jsStrings(AxeTags) + `}, resultTypes: ['violations']})
	.then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(s => Array.isArray(s) ? s.join(' >>> ') : String(s)),
			html: n.html, summary: n.failureSummary || ''}))})))`

// Axe runs axe-core on the page as it is now (after the scripts and the
// steps of the test so far) against WCAG 2.1 A and AA, and returns the
// rules it breaks; none is an empty slice. axe-core goes into the page
// through the DevTools protocol, so the page's Content-Security-Policy
// needs no exception for it.
func (p *Page) Axe() []Violation {
	p.t.Helper()
	if !Eval[bool](p, `typeof window.axe !== 'undefined'`) {
		src, err := axeSource(p.b.env.AxeJS)
		if err != nil {
			p.fail("run axe-core", err)
		}
		// The script's last value is axe-core's module object, which the
		// protocol cannot return as JSON: end on a plain value.
		run(p, "load axe-core", chromedp.Evaluate[chromedp.Void](src+"\n;true"))
	}
	return Eval[[]Violation](p, axeRunJS)
}

// RequireNoAxeViolations fails the test when Axe finds any violation, with
// a list of them that says what to fix and where.
func (p *Page) RequireNoAxeViolations() {
	p.t.Helper()
	if v := p.Axe(); len(v) > 0 {
		p.t.Fatalf("browser: axe-core found %d WCAG 2.1 A/AA violations on %s:\n%s", len(v), p.URL(), FormatViolations(v))
	}
}

// FormatViolations lists violations one rule to a paragraph: the rule, its
// impact and help, then each element with what to fix.
func FormatViolations(violations []Violation) string {
	var b strings.Builder
	for _, v := range violations {
		fmt.Fprintf(&b, "- %s (%s): %s\n  %s\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "  * %s\n    %s\n", strings.Join(n.Target, ", "), n.HTML)
			for line := range strings.SplitSeq(strings.TrimSpace(n.Summary), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					fmt.Fprintf(&b, "      %s\n", line)
				}
			}
		}
	}
	return b.String()
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
