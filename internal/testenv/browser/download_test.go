package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDownloadByKeyboard(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rader.csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="revisjon.csv"`)
			fmt.Fprint(w, "seq,actor\n1,1547-20001\n")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="nb"><head><title>Last ned</title></head><body><main><h1>Last ned</h1>
<p><a id="csv" href="/rader.csv" download>Last ned som CSV</a></p></main></body></html>`)
	}))
	t.Cleanup(s.Close)
	p := Start(t).Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(s.URL+"/"))
	p.TabTo("#csv")
	d := p.Download(func() { p.Press(Enter) })
	require.Equal(t, "revisjon.csv", d.Name)
	require.Equal(t, "seq,actor\n1,1547-20001\n", string(d.Data))
	require.Equal(t, s.URL+"/", p.URL(), "the page stays")
}
