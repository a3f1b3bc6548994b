package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Timeout bounds each wait of a Page helper: for an element to appear, for
// a page to load, for a script to finish. It is a guard against a hung
// test, not a measure: the helpers return as soon as the browser is done.
const Timeout = 20 * time.Second

// Page is a tab of its own browser context (cookies, storage, cache), made
// for one test. Its helpers fail that test on any error; use them from the
// test's own goroutine. Selectors are CSS selectors, and the first element
// that matches is the one meant.
type Page struct {
	t   testing.TB
	b   *Browser
	ctx context.Context
	dir string // the artefact directory, once made
}

// problemsJS runs in each document before its own scripts and records what
// a person would not notice but must not happen: scripts or styles that the
// Content-Security-Policy blocked, uncaught errors, resources that did not
// load.
const problemsJS = `(() => {
	const problems = [];
	Object.defineProperty(window, '__tilgangProblems', {value: problems});
	document.addEventListener('securitypolicyviolation', e =>
		problems.push('Content-Security-Policy blocked ' + (e.blockedURI || 'something') + ' (' + e.violatedDirective + ')'));
	window.addEventListener('error', e => {
		if (e instanceof ErrorEvent) problems.push('uncaught error: ' + e.message);
		else if (e.target && e.target !== window) problems.push('did not load: ' + (e.target.src || e.target.href || e.target.outerHTML));
	}, true);
	window.addEventListener('unhandledrejection', e => problems.push('unhandled rejection: ' + e.reason));
})()`

// Page opens a new tab in a browser context of its own, closed (its cookies
// and storage with it) when t ends. t is the test whose failures the Page's
// helpers report: make the Page in the (sub)test that uses it.
func (b *Browser) Page(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first Do creates the tab and binds it to ctx: no deadline here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: open a tab: %v", err)
	}
	p := &Page{t: t, b: b, ctx: ctx}
	run(p, "install the problem recorder", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: problemsJS})
		return chromedp.Void{}, err
	})
	return p
}

// Context is the tab's chromedp context, for what the helpers do not cover
// (chromedp.Run(p.Context(), ...)).
func (p *Page) Context() context.Context { return p.ctx }

// run runs a on the tab within Timeout and fails the test on an error.
func run[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail(what, err)
	}
	return v
}

func (p *Page) fail(what string, err error) {
	p.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (nothing matched, or the page did not finish, within %s)", err, Timeout)
	}
	p.t.Fatalf("browser: %s: %v", what, err)
}

func (p *Page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	run(p, what, chromedp.Steps(steps...))
}

// runResponse runs steps that make the tab load a page, waits until it has
// loaded, and returns its HTTP status.
func (p *Page) runResponse(what string, steps ...chromedp.Action[chromedp.Void]) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		p.fail(what, err)
	}
	if resp == nil { // a navigation within the document
		return 0
	}
	return int(resp.Status)
}

// Navigate loads url, waits until the page has loaded, and returns the HTTP
// status of the document (after redirects).
func (p *Page) Navigate(url string) int {
	p.t.Helper()
	return p.runResponse("navigate to "+url, chromedp.Navigate(url))
}

// URL is the address of the page now shown.
func (p *Page) URL() string {
	p.t.Helper()
	return run(p, "read the location", chromedp.Location())
}

// Title is the document's title.
func (p *Page) Title() string {
	p.t.Helper()
	return run(p, "read the title", chromedp.Title())
}

// Text waits for sel and returns its text as shown (innerText: hidden
// parts left out, line breaks as laid out); "" when it is not shown.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return run(p, "read the text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// VisibleText is the text of the whole page as shown (the body's innerText).
func (p *Page) VisibleText() string {
	p.t.Helper()
	return Eval[string](p, `document.body ? document.body.innerText : ''`)
}

// Count is how many elements match sel now, without waiting: 0 says that
// something is not there.
func (p *Page) Count(sel string) int {
	p.t.Helper()
	return Eval[int](p, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// Attr waits for sel and returns its attribute name, and whether it has it.
func (p *Page) Attr(sel, name string) (string, bool) {
	p.t.Helper()
	r := run(p, "read "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name))
	return r.Value, r.Exists
}

// Value waits for the form field sel and returns its value.
func (p *Page) Value(sel string) string {
	p.t.Helper()
	return run(p, "read the value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// Click waits until sel is visible and clicks it with the mouse. It does not
// wait for a page that the click loads: use ClickAndWait for that.
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// ClickAndWait clicks sel (a link, a submit button), waits until the page
// that the click loads has loaded, and returns its HTTP status. The click
// must load a page; otherwise it fails after Timeout.
func (p *Page) ClickAndWait(sel string) int {
	p.t.Helper()
	return p.runResponse("click "+sel+" and wait for the page", chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Focus moves the focus to sel without a key press.
func (p *Page) Focus(sel string) {
	p.t.Helper()
	p.do("focus "+sel, chromedp.Focus(chromedp.CSS(sel)))
}

// Fill empties the field sel and types value into it, key by key, as a
// person does (the field gets the focus and each key's events).
func (p *Page) Fill(sel, value string) {
	p.t.Helper()
	p.do("fill "+sel, chromedp.Query(chromedp.CSS(sel), chromedp.NodeReady),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(sel)+`).value = ''`),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// SetValue sets the value of the field sel directly, with no key events but
// with the input and change events that a choice fires: for a select or a
// date field, where typing is not what a person does.
func (p *Page) SetValue(sel, value string) {
	p.t.Helper()
	p.do("set the value of "+sel, chromedp.Query(chromedp.CSS(sel), chromedp.NodeReady),
		chromedp.Evaluate[chromedp.Void](`(() => {
			const e = document.querySelector(`+jsString(sel)+`);
			e.value = `+jsString(value)+`;
			e.dispatchEvent(new Event('input', {bubbles: true}));
			e.dispatchEvent(new Event('change', {bubbles: true}));
		})()`))
}

// Submit submits the form sel, or the form of the element sel, as its
// submit button would (requestSubmit: the form's checks and submit handlers
// run), waits for the page that answers, and returns its HTTP status.
func (p *Page) Submit(sel string) int {
	p.t.Helper()
	p.do("find "+sel, chromedp.Query(chromedp.CSS(sel), chromedp.NodeReady))
	js := `(() => {
		const e = document.querySelector(` + jsString(sel) + `);
		const f = e instanceof HTMLFormElement ? e : (e.form || e.closest('form'));
		if (!f) throw new Error('it is neither a form nor in one');
		f.requestSubmit();
	})()`
	return p.runResponse("submit "+sel, chromedp.Evaluate[chromedp.Void](js))
}

// Key is a key on the keyboard for Press.
type Key string

// The keys a person uses to get around a page without a mouse.
const (
	Tab        Key = "Tab"
	ShiftTab   Key = "Shift+Tab"
	Enter      Key = "Enter"
	Space      Key = "Space"
	Escape     Key = "Escape"
	ArrowUp    Key = "ArrowUp"
	ArrowDown  Key = "ArrowDown"
	ArrowLeft  Key = "ArrowLeft"
	ArrowRight Key = "ArrowRight"
	Home       Key = "Home"
	End        Key = "End"
	Backspace  Key = "Backspace"
)

var keyRunes = map[Key]string{
	Tab: kb.Tab, ShiftTab: kb.Tab, Enter: kb.Enter, Space: " ", Escape: kb.Escape,
	ArrowUp: kb.ArrowUp, ArrowDown: kb.ArrowDown, ArrowLeft: kb.ArrowLeft, ArrowRight: kb.ArrowRight,
	Home: kb.Home, End: kb.End, Backspace: kb.Backspace,
}

func keyAction(k Key) (chromedp.Action[chromedp.Void], error) {
	r, ok := keyRunes[k]
	if !ok {
		return nil, fmt.Errorf("unknown key %q", k)
	}
	if k == ShiftTab {
		return chromedp.KeyEvent(r, chromedp.KeyModifiers(chromedp.ModifierShift)), nil
	}
	return chromedp.KeyEvent(r), nil
}

// Press presses the keys one after another, at whatever has the focus. It
// does not wait for a page that a key loads: use PressAndWait for that.
func (p *Page) Press(keys ...Key) {
	p.t.Helper()
	for _, k := range keys {
		a, err := keyAction(k)
		if err != nil {
			p.fail("press", err)
		}
		p.do("press "+string(k), a)
	}
}

// PressAndWait presses k (Enter on a link or in a form, Space on a button),
// waits until the page that it loads has loaded, and returns its HTTP
// status. The key must load a page; otherwise it fails after Timeout.
func (p *Page) PressAndWait(k Key) int {
	p.t.Helper()
	a, err := keyAction(k)
	if err != nil {
		p.fail("press", err)
	}
	return p.runResponse("press "+string(k)+" and wait for the page", a)
}

// Type types text, key by key, into whatever has the focus.
func (p *Page) Type(text string) {
	p.t.Helper()
	p.do(fmt.Sprintf("type %q", text), chromedp.KeyEvent(text))
}

// focusedJS describes document.activeElement as a person would point at
// it: the tag, its id and name, and its accessible name in quotes.
const focusedJS = `(() => {
	const e = document.activeElement;
	if (!e) return 'nothing';
	if (e === document.body || e === document.documentElement) return e.tagName.toLowerCase();
	let d = e.tagName.toLowerCase();
	if (e.id) d += '#' + e.id;
	const name = e.getAttribute('name');
	if (name) d += '[name=' + name + ']';
	let label = e.getAttribute('aria-label') || '';
	if (!label && e.getAttribute('aria-labelledby')) label = e.getAttribute('aria-labelledby').split(/\s+/).map(id => (document.getElementById(id) || {}).innerText || '').join(' ');
	if (!label && e.labels && e.labels.length) label = e.labels[0].innerText;
	if (!label && e instanceof HTMLInputElement && ['submit', 'button', 'reset'].includes(e.type)) label = e.value;
	if (!label) label = e.innerText || e.getAttribute('alt') || e.getAttribute('title') || '';
	label = label.replace(/\s+/g, ' ').trim();
	if (label) d += ' "' + label + '"';
	return d;
})()`

// Focused describes the element that has the focus: its tag, #id,
// [name=...] and accessible name in quotes, for example
// `input#name[name=name] "Navn"`, `button "Send"`, `a "Søknader"`; "body"
// when nothing in particular has it.
func (p *Page) Focused() string {
	p.t.Helper()
	return Eval[string](p, focusedJS)
}

// HasFocus says whether the first element that matches sel has the focus.
func (p *Page) HasFocus(sel string) bool {
	p.t.Helper()
	return Eval[bool](p, `document.activeElement !== null && document.activeElement === document.querySelector(`+jsString(sel)+`)`)
}

// Eval evaluates the JavaScript expression js in the page, waits for it
// when it is a promise, and returns its value decoded as JSON into T. A
// JavaScript null fails the test unless T can be nil (a pointer, a slice,
// a map).
func Eval[T any](p *Page, js string) T {
	p.t.Helper()
	what := js
	if len(what) > 80 {
		what = what[:80] + "..."
	}
	return run(p, "evaluate "+what, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// Problems lists what went wrong in the page since it loaded that a person
// would not see: scripts and styles that the Content-Security-Policy
// blocked, uncaught errors and rejections, resources that did not load.
func (p *Page) Problems() []string {
	p.t.Helper()
	return Eval[[]string](p, `window.__tilgangProblems ? [...window.__tilgangProblems] : []`)
}

// RequireNoProblems fails the test when Problems has any.
func (p *Page) RequireNoProblems() {
	p.t.Helper()
	if problems := p.Problems(); len(problems) > 0 {
		p.t.Fatalf("browser: %s had %d problems:\n- %s", p.URL(), len(problems), strings.Join(problems, "\n- "))
	}
}

// Cookie is a cookie as the browser keeps it.
type Cookie struct {
	Name, Value, Domain, Path string
	HTTPOnly, Secure          bool
	Session                   bool   // no expiry: gone when the browser closes
	SameSite                  string // "Strict", "Lax", "None" or "" when not set
}

// Cookies are the cookies the browser would send to the page now shown,
// HttpOnly ones included.
func (p *Page) Cookies() []Cookie {
	p.t.Helper()
	res := run(p, "read the cookies", func(ctx context.Context, _ *chromedp.Target) (network.GetCookiesResult, error) {
		return chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	})
	cookies := make([]Cookie, 0, len(res.Cookies))
	for _, c := range res.Cookies {
		cookies = append(cookies, Cookie{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path,
			HTTPOnly: c.HTTPOnly, Secure: c.Secure, Session: c.Session, SameSite: string(c.SameSite)})
	}
	return cookies
}

// Cookie is the cookie name of Cookies, and whether there is one.
func (p *Page) Cookie(name string) (Cookie, bool) {
	p.t.Helper()
	for _, c := range p.Cookies() {
		if c.Name == name {
			return c, true
		}
	}
	return Cookie{}, false
}

// Screenshot saves a PNG of the whole page (beyond the 1280x900 window
// when it is longer) as name.png in ArtefactDir and returns its path.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	return p.save(name, run(p, "take a screenshot", chromedp.FullScreenshot(100)))
}

// WindowScreenshot saves a PNG of what the window shows now (1280 wide,
// scrolled as it is: the browser scrolls what has the focus into view)
// as name.png in ArtefactDir and returns its path.
func (p *Page) WindowScreenshot(name string) string {
	p.t.Helper()
	return p.save(name, run(p, "take a screenshot", chromedp.CaptureScreenshot()))
}

func (p *Page) save(name string, png []byte) string {
	p.t.Helper()
	if p.dir == "" {
		p.dir = ArtefactDir(p.t)
	}
	path := filepath.Join(p.dir, safeName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("browser: save the screenshot: %v", err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// ArtefactDir is where t keeps what it leaves for people to look at, such as
// screenshots: $TILGANG_ARTEFACTS/<test name> when TILGANG_ARTEFACTS is set
// (deploy/test.sh sets it), else a temporary directory removed after t.
func ArtefactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("TILGANG_ARTEFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, safeName(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browser: make the artefact directory: %v", err)
	}
	return dir
}

// safeName keeps letters, digits, '.', '-' and '_' of s and turns the rest
// into '_', so that a test or screenshot name is one plain file name.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	s = strings.Trim(s, ".")
	if s == "" {
		s = "_"
	}
	return s
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
