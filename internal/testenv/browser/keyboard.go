package browser

import "strings"

// MaxTabs bounds how many Tab presses TabTo and ShiftTabTo try before they
// fail: more than any page of the portal has stops.
const MaxTabs = 100

// focusIndicatorJS says why the focus is not visible on the element that
// has it, or "" when it is: the element matches :focus-visible (the
// browser shows keyboard focus there), is laid out within the window, and
// looks different from an unfocused copy of itself put beside it (an
// outline, a box shadow, a background, a colour, a border, an underline,
// or, as a skip link does, appearing at all). A date or time field
// counts as visible: the browser highlights the part of it that has the
// focus.
const focusIndicatorJS = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body || e === document.documentElement) return 'nothing has the focus';
	const r = e.getBoundingClientRect();
	if (r.width < 1 || r.height < 1) return 'it has no size (' + r.width + 'x' + r.height + ')';
	if (r.bottom < 0 || r.right < 0 || r.top > window.innerHeight || r.left > window.innerWidth) return 'it is outside the window';
	// A date or time field passes the focus to its part (day, month,
	// year) inside the browser's own shadow tree, which the browser
	// highlights: the field itself does not match :focus-visible.
	if (e instanceof HTMLInputElement && ['date', 'time', 'datetime-local', 'month', 'week'].includes(e.type)) return '';
	if (!e.matches(':focus-visible')) return 'it does not match :focus-visible';
	const props = ['outlineStyle', 'outlineWidth', 'outlineColor', 'boxShadow', 'backgroundColor', 'color',
		'borderTopColor', 'borderBottomColor', 'borderBottomWidth', 'textDecorationLine', 'clip', 'clipPath', 'position'];
	const c = e.cloneNode(true);
	c.removeAttribute('id');
	c.setAttribute('aria-hidden', 'true');
	e.after(c);
	const focused = getComputedStyle(e), plain = getComputedStyle(c);
	const differs = props.some(k => focused[k] !== plain[k]);
	c.remove();
	if (!differs) return 'it looks the same with and without the focus (' + props.join(', ') + ')';
	return '';
})()`

// FocusProblem says why the focus is not visible where it is (a keyboard
// user would not see where they are), or "" when it is visible: the
// element that has it must match :focus-visible, be laid out within the
// window, and look different from the same element without the focus
// (WCAG 2.4.7).
func (p *Page) FocusProblem() string {
	p.t.Helper()
	return Eval[string](p, focusIndicatorJS)
}

// RequireVisibleFocus fails the test when FocusProblem finds one.
func (p *Page) RequireVisibleFocus() {
	p.t.Helper()
	if why := p.FocusProblem(); why != "" {
		p.t.Fatalf("browser: the focus on %s is not visible on %s: %s", p.Focused(), p.URL(), why)
	}
}

// TabTo presses Tab until the first element that matches sel has the
// focus, as a keyboard user moves through a page, and fails the test when
// MaxTabs presses do not get there (listing where the focus went). It
// returns how many presses it took. Every element passed on the way and
// the one reached must show a visible focus (RequireVisibleFocus).
func (p *Page) TabTo(sel string) int {
	p.t.Helper()
	return p.tabTo(Tab, sel)
}

// ShiftTabTo is TabTo going backwards, with Shift+Tab.
func (p *Page) ShiftTabTo(sel string) int {
	p.t.Helper()
	return p.tabTo(ShiftTab, sel)
}

func (p *Page) tabTo(k Key, sel string) int {
	p.t.Helper()
	if p.Count(sel) == 0 {
		p.t.Fatalf("browser: nothing on %s matches %s, so %s cannot reach it", p.URL(), sel, k)
	}
	// One evaluation a key: where the focus is, whether it is visible,
	// and whether it is on sel.
	type step struct {
		Focused string `json:"focused"`
		Problem string `json:"problem"`
		There   bool   `json:"there"`
	}
	js := `({focused: ` + focusedJS + `, problem: ` + focusIndicatorJS + `, there: document.activeElement !== null && document.activeElement === document.querySelector(` + jsString(sel) + `)})`
	var path []string
	for i := 1; i <= MaxTabs; i++ {
		p.Press(k)
		s := Eval[step](p, js)
		path = append(path, s.Focused)
		if s.Problem != "" && s.Problem != "nothing has the focus" {
			p.t.Fatalf("browser: after %d × %s on %s the focus on %s is not visible: %s", i, k, p.URL(), s.Focused, s.Problem)
		}
		if s.There {
			return i
		}
	}
	p.t.Fatalf("browser: %d × %s on %s did not reach %s; the focus went to:\n%s", MaxTabs, k, p.URL(), sel, strings.Join(path, "\n"))
	return 0
}

// Activate presses key (Enter on a link or a button, Space on a button) on
// the element sel, which must already have the focus, waits for the page it
// loads and returns its HTTP status. It is how a keyboard user follows a
// link or submits a form.
func (p *Page) Activate(sel string, key Key) int {
	p.t.Helper()
	if !p.HasFocus(sel) {
		p.t.Fatalf("browser: %s should have the focus before %s, but %s has it", sel, key, p.Focused())
	}
	return p.PressAndWait(key)
}

// TabAndActivate is TabTo(sel) and then Activate(sel, key).
func (p *Page) TabAndActivate(sel string, key Key) int {
	p.t.Helper()
	p.TabTo(sel)
	return p.Activate(sel, key)
}
