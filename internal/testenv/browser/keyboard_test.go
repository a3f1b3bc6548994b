package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// keyboardSite has a link, a field and a button with the browser's focus
// ring; with ?hidden, also a button whose focus style was taken away.
func keyboardSite(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.Method == http.MethodPost {
			_ = r.ParseForm()
			fmt.Fprintf(w, `<!doctype html><html lang="nb"><head><title>Sendt</title></head><body><p id="sent">%s</p></body></html>`, r.PostForm.Get("b"))
			return
		}
		hidden := ""
		if r.URL.Query().Has("hidden") {
			hidden = ` <button id="hidden" name="b" value="hidden">Usynlig fokus</button>`
		}
		fmt.Fprintf(w, `<!doctype html><html lang="nb"><head><title>Tastatur</title>
<style>#hidden:focus { outline: none; box-shadow: none; }</style></head>
<body><main><h1>Tastatur</h1><p><a id="link" href="/next">Neste</a></p>
<form method="post" action="/"><p><label for="f">Felt</label> <input id="f" name="f"></p>
<p><button id="plain" name="b" value="plain">Vanlig</button>%s</p>
</form><p id="end">Slutt</p></main></body></html>`, hidden)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// fatalRecorder is a test whose Fatalf is recorded and ends only the
// goroutine that called it, so that a test can see a helper fail.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn with a Page on the same tab whose test is a recorder,
// and returns what it failed with ("" when it did not).
func failure(p *Page, fn func(q *Page)) string {
	r := &fatalRecorder{TB: p.t}
	q := &Page{t: r, b: p.b, ctx: p.ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(q)
	}()
	<-done
	return r.msg
}

func TestTabTo(t *testing.T) {
	url := keyboardSite(t)
	p := Start(t).Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(url+"/"))

	require.Equal(t, 2, p.TabTo("#f"), "the link, then the field")
	p.RequireVisibleFocus()
	require.Equal(t, 1, p.TabTo("#plain"))
	require.Equal(t, 2, p.ShiftTabTo("#link"))
	require.Equal(t, 1, p.TabTo("#f"))
	p.Type("x")

	// What is not focusable is never reached; what is not there is named.
	require.Contains(t, failure(p, func(q *Page) { q.TabTo("#end") }), "did not reach #end; the focus went to:")
	require.Contains(t, failure(p, func(q *Page) { q.TabTo("#nowhere") }), "nothing on "+url+"/ matches #nowhere")

	// A focus that is not shown: passing it, or reaching it, by Tab fails
	// and says why.
	require.Equal(t, http.StatusOK, p.Navigate(url+"/?hidden"))
	for _, sel := range []string{"#hidden", "#end"} {
		msg := failure(p, func(q *Page) { q.TabTo(sel) })
		require.Contains(t, msg, `the focus on button#hidden[name=b] "Usynlig fokus" is not visible: it looks the same with and without the focus`, sel)
		require.NotEmpty(t, p.FocusProblem())
		p.ShiftTabTo("#plain")
	}

	// A focused element without a key press does not match :focus-visible
	// in every case; a button reached by keyboard does, and Space on it
	// submits its form.
	require.Equal(t, http.StatusOK, p.Navigate(url+"/"))
	p.TabTo("#plain")
	require.Equal(t, http.StatusOK, p.Activate("#plain", Space))
	require.Equal(t, "plain", p.Text("#sent"))
	require.Contains(t, failure(p, func(q *Page) { q.Activate("#plain", Enter) }), "#plain should have the focus before Enter")
}
