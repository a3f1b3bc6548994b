package browser

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// site is a small server with the kinds of pages the portal has: a strict
// Content-Security-Policy, a form that posts back, a cookie.
type site struct {
	*httptest.Server
	mu    sync.Mutex
	posts []map[string]string
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{}
	page := func(w http.ResponseWriter, title, body string) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; form-action 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>%s</title></head>
<body><main><h1>%s</h1>%s</main></body></html>`, title, title, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clean", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Tilgang", `<p>Her søker du om tilgang til systemene du trenger.</p><img src="/pixel.png" alt="Kommunevåpen">`)
	})
	mux.HandleFunc("GET /no-alt", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Tilgang", `<p>Et bilde uten tekst:</p><img src="/pixel.png">`)
	})
	mux.HandleFunc("GET /pixel.png", func(w http.ResponseWriter, r *http.Request) {
		img := image.NewRGBA(image.Rect(0, 0, 40, 40))
		for i := range img.Pix {
			img.Pix[i] = 0x80
		}
		img.Set(0, 0, color.Black)
		w.Header().Set("Content-Type", "image/png")
		_ = png.Encode(w, img)
	})
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Søknad", `<form method="post" action="/form">
<p><label for="name">Navn</label> <input id="name" name="name" type="text" autocomplete="name"></p>
<p><input id="agree" name="agree" type="checkbox"> <label for="agree">Jeg bekrefter</label></p>
<p><button type="submit">Send</button></p></form>`)
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.posts = append(s.posts, map[string]string{"name": r.PostForm.Get("name"), "agree": r.PostForm.Get("agree")})
		s.mu.Unlock()
		page(w, "Takk", `<p id="thanks">Takk, `+html.EscapeString(r.PostForm.Get("name"))+`.</p>`)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "tilgang_session", Value: "abc123", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		page(w, "Logget inn", `<p>Du er logget inn.</p>`)
	})
	mux.HandleFunc("GET /inline-script", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Skript", `<script>document.title = 'ran';</script><p>Et skript som ikke får kjøre.</p>`)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *site) Posts() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.posts...)
}

func TestAxe(t *testing.T) {
	s := newSite(t)
	b := Start(t)
	tests := []struct {
		name string
		path string
		want []string // the rules broken
	}{
		{name: "clean page", path: "/clean", want: []string{}},
		{name: "image without alt", path: "/no-alt", want: []string{"image-alt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.Page(t)
			require.Equal(t, http.StatusOK, p.Navigate(s.URL+tt.path))
			violations := p.Axe()
			ids := []string{}
			for _, v := range violations {
				ids = append(ids, v.ID)
			}
			require.Equal(t, tt.want, ids, FormatViolations(violations))
			if len(violations) == 0 {
				p.RequireNoAxeViolations()
				return
			}
			require.Equal(t, "critical", violations[0].Impact)
			require.Equal(t, []string{"img"}, violations[0].Nodes[0].Target)
			text := FormatViolations(violations)
			require.Contains(t, text, "- image-alt (critical): Images must have alternative text")
			require.Contains(t, text, `<img src="/pixel.png">`)
			// Once loaded, axe-core is not loaded again, and it gives the same.
			require.Equal(t, violations, p.Axe())
		})
	}
}

func TestKeyboardOnlyForm(t *testing.T) {
	s := newSite(t)
	p := Start(t).Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(s.URL+"/form"))
	require.Equal(t, "body", p.Focused())

	p.Press(Tab)
	require.Equal(t, `input#name[name=name] "Navn"`, p.Focused())
	require.True(t, p.HasFocus("#name"))
	p.Type("Åse Øvergård-Bø")
	p.Press(Tab)
	require.Equal(t, `input#agree[name=agree] "Jeg bekrefter"`, p.Focused())
	p.Press(Space)
	require.True(t, Eval[bool](p, `document.getElementById('agree').checked`))
	p.Press(Tab)
	require.Equal(t, `button "Send"`, p.Focused())
	p.Press(ShiftTab)
	require.True(t, p.HasFocus("#agree"))
	p.Press(Tab)

	require.Equal(t, http.StatusOK, p.PressAndWait(Enter))
	require.Equal(t, []map[string]string{{"name": "Åse Øvergård-Bø", "agree": "on"}}, s.Posts())
	require.Equal(t, "Takk, Åse Øvergård-Bø.", p.Text("#thanks"))
	require.Equal(t, s.URL+"/form", p.URL())
	require.Equal(t, "Takk", p.Title())
	require.Contains(t, p.VisibleText(), "Takk, Åse Øvergård-Bø.")
}

func TestFillSubmitAndClick(t *testing.T) {
	s := newSite(t)
	p := Start(t).Page(t)
	p.Navigate(s.URL + "/form")

	p.Fill("#name", "Kari")
	p.Fill("#name", "Ola Nordmann") // Fill replaces what is there
	require.Equal(t, "Ola Nordmann", p.Value("#name"))
	require.Equal(t, http.StatusOK, p.Submit("#name"))
	require.Equal(t, "Takk, Ola Nordmann.", p.Text("#thanks"))

	p.Navigate(s.URL + "/form")
	p.SetValue("#name", "Per")
	p.Click("#agree")
	require.Equal(t, http.StatusOK, p.ClickAndWait("button"))
	require.Equal(t, []map[string]string{{"name": "Ola Nordmann", "agree": ""}, {"name": "Per", "agree": "on"}}, s.Posts())

	v, ok := p.Attr("html", "lang")
	require.True(t, ok)
	require.Equal(t, "nb", v)
	_, ok = p.Attr("html", "dir")
	require.False(t, ok)
	require.Equal(t, 1, p.Count("#thanks"))
	require.Equal(t, 0, p.Count("form"))

	require.Equal(t, http.StatusNotFound, p.Navigate(s.URL+"/missing"))
}

func TestScreenshot(t *testing.T) {
	s := newSite(t)
	p := Start(t).Page(t)
	p.Navigate(s.URL + "/form")
	p.Fill("#name", "Åse Øvergård-Bø")
	path := p.Screenshot("søknad/utfylt")

	require.Equal(t, "s_knad_utfylt.png", filepath.Base(path))
	if root := os.Getenv("TILGANG_ARTEFACTS"); root != "" {
		require.Equal(t, filepath.Join(root, "TestScreenshot"), filepath.Dir(path))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, 1280, img.Bounds().Dx())
	require.Positive(t, img.Bounds().Dy())

	// The window only (1280 wide, its viewport's height), however long the page.
	require.Equal(t, 200, p.Navigate(s.URL+"/clean"))
	require.True(t, Eval[bool](p, `(() => { document.querySelector('main').style.height = '5000px'; return true; })()`))
	data, err = os.ReadFile(p.WindowScreenshot("vindu"))
	require.NoError(t, err)
	img, err = png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, 1280, img.Bounds().Dx())
	require.Less(t, img.Bounds().Dy(), 1000)
}

func TestCookies(t *testing.T) {
	s := newSite(t)
	b := Start(t)
	p := b.Page(t)
	p.Navigate(s.URL + "/cookie")
	c, ok := p.Cookie("tilgang_session")
	require.True(t, ok, "cookies: %+v", p.Cookies())
	require.Equal(t, Cookie{Name: "tilgang_session", Value: "abc123", Domain: "127.0.0.1", Path: "/",
		HTTPOnly: true, Session: true, SameSite: "Lax"}, c)
	require.Empty(t, Eval[string](p, `document.cookie`), "HttpOnly: the page's scripts do not see it")

	// Another page is another browser context: it has no cookie of the first.
	other := b.Page(t)
	other.Navigate(s.URL + "/clean")
	require.Empty(t, other.Cookies())
	p.Navigate(s.URL + "/clean")
	_, ok = p.Cookie("tilgang_session")
	require.True(t, ok)
}

func TestProblems(t *testing.T) {
	s := newSite(t)
	p := Start(t).Page(t)

	p.Navigate(s.URL + "/inline-script")
	require.Equal(t, "Skript", p.Title(), "the Content-Security-Policy blocks the inline script")
	problems := p.Problems()
	require.Len(t, problems, 1)
	require.Contains(t, problems[0], "Content-Security-Policy blocked inline (script-src-elem)")

	p.Navigate(s.URL + "/clean")
	require.Empty(t, p.Problems())
	p.RequireNoProblems()
	p.RequireNoAxeViolations() // axe-core runs under the strict policy
	require.Empty(t, p.Problems(), "loading axe-core through the protocol breaks no policy")
}

func TestEval(t *testing.T) {
	s := newSite(t)
	p := Start(t).Page(t)
	p.Navigate(s.URL + "/clean")
	require.Equal(t, 3, Eval[int](p, `1 + 2`))
	require.Equal(t, "ja", Eval[string](p, `new Promise(resolve => setTimeout(() => resolve('ja'), 10))`))
	require.Equal(t, []string{"Tilgang"}, Eval[[]string](p, `[...document.querySelectorAll('h1')].map(e => e.innerText)`))
	require.Nil(t, Eval[*int](p, `null`))
}

// TestStartStopsChromium checks that a browser and every process it
// started are gone when the test that started it ends, and its profile
// directory with them.
func TestStartStopsChromium(t *testing.T) {
	var pid int
	var dataDir string
	t.Run("browser", func(t *testing.T) {
		b := Start(t)
		b.Page(t).Navigate("about:blank")
		pid = b.PID()
		for arg := range strings.SplitSeq(cmdline(pid), "\x00") {
			if v, ok := strings.CutPrefix(arg, "--user-data-dir="); ok {
				dataDir = v
			}
		}
		require.NotEmpty(t, dataDir, "the browser's command line: %q", cmdline(pid))
		require.NotEmpty(t, processesWith("--user-data-dir="+dataDir))
	})
	require.Empty(t, processesWith("--user-data-dir="+dataDir))
	require.NoDirExists(t, dataDir)
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return string(b)
}

// processesWith lists the processes with arg on their command line.
func processesWith(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for a := range strings.SplitSeq(cmdline(pid), "\x00") {
			if a == arg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func TestLookupEnv(t *testing.T) {
	dir := t.TempDir()
	chromium := filepath.Join(dir, "chromium")
	require.NoError(t, os.WriteFile(chromium, []byte("#!/bin/sh\n"), 0o755))
	axe := filepath.Join(dir, "axe.min.js")
	require.NoError(t, os.WriteFile(axe, []byte("window.axe = {};"), 0o644))
	envFile := filepath.Join(dir, "env")
	require.NoError(t, os.WriteFile(envFile, []byte("TILGANG_CHROMIUM="+chromium+"\nTILGANG_AXE_JS="+axe+"\n"), 0o644))

	tests := []struct {
		name     string
		env      map[string]string
		want     Env
		wantErrs []string
	}{
		{name: "from the env file", env: map[string]string{"TILGANG_BROWSER_ENV_FILE": envFile},
			want: Env{Chromium: chromium, AxeJS: axe}},
		{name: "the environment before the file",
			env:      map[string]string{"TILGANG_BROWSER_ENV_FILE": envFile, "TILGANG_CHROMIUM": filepath.Join(dir, "missing")},
			wantErrs: []string{"no Chromium at " + filepath.Join(dir, "missing"), "bash deploy/browser-testenv.sh install"}},
		{name: "axe-core missing",
			env:      map[string]string{"TILGANG_BROWSER_ENV_FILE": filepath.Join(dir, "none"), "TILGANG_CHROMIUM": chromium},
			wantErrs: []string{"no axe-core (TILGANG_AXE_JS is not set", "install with: bash deploy/browser-testenv.sh install"}},
		{name: "not executable",
			env:      map[string]string{"TILGANG_BROWSER_ENV_FILE": envFile, "TILGANG_CHROMIUM": axe},
			wantErrs: []string{"no Chromium at " + axe}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"TILGANG_CHROMIUM", "TILGANG_AXE_JS", "TILGANG_BROWSER_ENV_FILE"} {
				t.Setenv(k, tt.env[k])
			}
			env, err := LookupEnv()
			if tt.wantErrs == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, env)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErrs {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

// recorder is a testing.TB that records Fatal and Skip instead of ending
// the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestUnavailableFailsInCI(t *testing.T) {
	err := fmt.Errorf("browser: no Chromium at /x; install with: %s", installHint)
	for _, ci := range []string{"true", ""} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{}
			unavailable(r, err)
			if ci == "true" {
				require.Equal(t, err.Error(), r.fatal)
				require.Empty(t, r.skip)
			} else {
				require.Equal(t, err.Error(), r.skip)
				require.Empty(t, r.fatal)
			}
		})
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"TestPortal/start_side": "TestPortal_start_side",
		"søknad":                "s_knad",
		"../../etc":             "_.._etc",
		"":                      "_",
	} {
		require.Equal(t, want, safeName(in), in)
	}
}
