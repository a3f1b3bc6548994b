// Package browser drives a real, headless Chromium for the portal's page
// tests, so that a test asserts what a person sees: the text, where the
// focus is, what the keyboard does, and what axe-core finds against WCAG 2.1
// A and AA. deploy/browser-testenv.sh installs Chromium and axe-core and
// writes where they are.
//
// Each Start runs one Chromium of its own, stopped when the test that
// started it ends: no browser outlives its test, whatever the order of the
// tests or their failures, and a test that kills or confuses its browser
// harms no other test. A start takes about half a second; a test with many
// cases starts one browser and makes a Page in each subtest. Each Page is a
// tab in a browser context of its own (as a private window is), so its
// cookies and storage are its own.
//
// The Page helpers fail the test of the Page when something does not work,
// as require does, and wait at most Timeout for an element or a load.
//
//	b := browser.Start(t)
//	p := b.Page(t)
//	p.Navigate(srv.URL + "/")
//	p.Press(browser.Tab)
//	require.Equal(t, `a#main-link "Søknader"`, p.Focused())
//	p.RequireNoAxeViolations()
//	p.Screenshot("start")
package browser

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// DefaultEnvFile is where deploy/browser-testenv.sh writes the env file.
const DefaultEnvFile = "/var/tmp/tilgang-browser/env"

// installHint is how to get what is missing.
const installHint = "bash deploy/browser-testenv.sh install"

// Env says where Chromium and axe-core are.
type Env struct {
	Chromium string // the browser's executable (TILGANG_CHROMIUM)
	AxeJS    string // axe-core's axe.min.js (TILGANG_AXE_JS)
}

// LookupEnv finds Chromium and axe-core: TILGANG_CHROMIUM and TILGANG_AXE_JS
// from the environment, else from the env file at TILGANG_BROWSER_ENV_FILE
// (default DefaultEnvFile). Chromium defaults to /usr/bin/chromium. The
// error says what is missing and how to install it.
func LookupEnv() (Env, error) {
	env := Env{Chromium: os.Getenv("TILGANG_CHROMIUM"), AxeJS: os.Getenv("TILGANG_AXE_JS")}
	if env.Chromium == "" || env.AxeJS == "" {
		path := os.Getenv("TILGANG_BROWSER_ENV_FILE")
		if path == "" {
			path = DefaultEnvFile
		}
		file, err := readEnvFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return env, fmt.Errorf("browser: read the env file: %w", err)
		}
		if env.Chromium == "" {
			env.Chromium = file["TILGANG_CHROMIUM"]
		}
		if env.AxeJS == "" {
			env.AxeJS = file["TILGANG_AXE_JS"]
		}
	}
	if env.Chromium == "" {
		env.Chromium = "/usr/bin/chromium"
	}
	var problems []string
	if fi, err := os.Stat(env.Chromium); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		problems = append(problems, fmt.Sprintf("no Chromium at %s", env.Chromium))
	}
	if env.AxeJS == "" {
		problems = append(problems, "no axe-core (TILGANG_AXE_JS is not set and the env file does not name it)")
	} else if fi, err := os.Stat(env.AxeJS); err != nil || fi.IsDir() || fi.Size() == 0 {
		problems = append(problems, fmt.Sprintf("no axe-core at %s", env.AxeJS))
	}
	if problems != nil {
		return env, fmt.Errorf("browser: %s; install with: %s", strings.Join(problems, "; "), installHint)
	}
	return env, nil
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// unavailable ends a test that cannot have its browser: it fails under
// CI=true, where the browser must be there, and skips elsewhere.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(err.Error())
		return
	}
	t.Skip(err.Error())
}

// Browser is a running Chromium of one test.
type Browser struct {
	env    Env
	ctx    context.Context // the browser's first tab; pages are its children
	output *lockedBuffer   // what Chromium printed, shown when the test fails
}

// Start starts a headless Chromium for t and stops it (and every process it
// started, and its profile directory) when t ends. Without Chromium or
// axe-core t skips, and fails under CI=true, saying how to install them.
func Start(t testing.TB) *Browser {
	t.Helper()
	env, err := LookupEnv()
	if err != nil {
		unavailable(t, err)
	}
	return start(t, env)
}

func start(t testing.TB, env Env) *Browser {
	t.Helper()
	b := &Browser{env: env, output: &lockedBuffer{}}
	// chromedp's defaults already hold --headless, --no-first-run,
	// --disable-background-networking, --disable-sync and the others of
	// Puppeteer; it adds --no-sandbox when run as root, and gives each
	// browser a fresh profile directory that it removes when the browser
	// stops, after killing any of the browser's processes that outlived it.
	// The flags below keep Chromium from reaching for the network on its
	// own: the tests' machines have none, and no traffic may leave
	// 127.0.0.0/8.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(env.Chromium),
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits until the browser has exited and its directory is gone
		if out := b.output.Interesting(); t.Failed() && out != "" {
			t.Logf("Chromium's output:\n%s", out)
		}
	})
	// The first Do starts the browser and binds its life to ctx, so it
	// must have no deadline of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v\n%s", env.Chromium, err, b.output.Interesting())
	}
	b.ctx = ctx
	return b
}

// PID is the process id of the browser's main process.
func (b *Browser) PID() int {
	return chromedp.FromContext(b.ctx).Browser.Process().Pid
}

// lockedBuffer is a bytes.Buffer that Chromium's output goroutine and the
// test can use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 1<<20 { // keep the first MiB: enough to see why it failed
		return len(p), nil
	}
	return l.buf.Write(p)
}

// Interesting is the output without what Chromium always prints here and
// means nothing: that the machine has no D-Bus, and a line of Debian's
// start script.
func (l *lockedBuffer) Interesting() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, ":ERROR:dbus/") || strings.Contains(line, "unexpected operator") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}
