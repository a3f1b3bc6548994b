package browser

import (
	"context"
	"os"
	"path/filepath"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Download is a file the browser saved.
type Download struct {
	Name string // the name the server suggested (Content-Disposition), or the link's
	Data []byte
}

// Download runs start, which must make the browser download a file (Enter
// on a link to it, a click), waits until the file is saved and returns
// it. The file goes to a directory of the test's own; the browser keeps
// downloading into it for the rest of the Page's life.
func (p *Page) Download(start func()) Download {
	p.t.Helper()
	dir := p.t.TempDir()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	begun := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	yes := true
	run(p, "allow downloads", func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		// The tab's browser context is its own (Page): name it, or the
		// default context's behaviour is what changes.
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID})
		return chromedp.Void{}, err
	})
	start()
	var d Download
	var guid string
	for ev, err := range begun {
		if err != nil {
			p.fail("wait for a download to begin", err)
		}
		d.Name, guid = ev.SuggestedFilename, ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.fail("wait for the download of "+d.Name, err)
		}
		if ev.GUID != guid {
			continue
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, guid))
			if err != nil {
				p.fail("read the download of "+d.Name, err)
			}
			d.Data = data
			return d
		case browser.DownloadProgressStateCanceled:
			p.t.Fatalf("browser: the download of %s was cancelled after %.0f bytes", d.Name, ev.ReceivedBytes)
		}
	}
	p.fail("wait for the download of "+d.Name, context.DeadlineExceeded)
	return d
}
