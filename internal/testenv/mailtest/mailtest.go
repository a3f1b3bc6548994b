// Package mailtest starts a real SMTP server for a test: mailpit (built by
// `bash deploy/mail-testenv.sh install`), as a child process on free ports
// of 127.0.0.1, and reads the mail it received back through its HTTP API.
// Each Start is a server of its own; Stop and Start again (same ports)
// play an SMTP server that is down for a while.
//
// Without the mailpit binary a test skips, except under CI=true, where it
// fails saying what to run.
package mailtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one mailpit.
type Server struct {
	t    testing.TB
	bin  string
	SMTP string // host:port of SMTP
	API  string // http://host:port of the HTTP API
	db   string // kept across Stop and Start: the mail received stays
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
}

// binary finds the mailpit that deploy/mail-testenv.sh built.
func binary() (string, error) {
	file := os.Getenv("TILGANG_MAIL_ENV_FILE")
	if file == "" {
		file = "/var/tmp/tilgang-mail/env"
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("no mail test environment (%v): run `bash deploy/mail-testenv.sh install`", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TILGANG_MAILPIT="); ok {
			if _, err := os.Stat(v); err != nil {
				return "", fmt.Errorf("mailpit %s: %v: run `bash deploy/mail-testenv.sh install`", v, err)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("%s names no TILGANG_MAILPIT: run `bash deploy/mail-testenv.sh install`", file)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options change how the server runs.
type Options struct {
	// TLSCert and TLSKey (PEM files) make it offer STARTTLS.
	TLSCert, TLSKey string
	// AuthFile is an htpasswd file of the users that may authenticate;
	// without it any user name and password are taken.
	AuthFile string
}

// Start starts a mailpit for t, stopped when t ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a mailpit with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mailtest: %v", err)
		}
		t.Skipf("mailtest: %v", err)
	}
	s := &Server{t: t, bin: bin, SMTP: fmt.Sprintf("127.0.0.1:%d", freePort(t)), API: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		db: filepath.Join(t.TempDir(), "mailpit.db"), opts: o}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop, on the same ports, with the
// mail it had received.
func (s *Server) Start() {
	s.t.Helper()
	u, _ := url.Parse(s.API)
	args := []string{"-s", s.SMTP, "-l", u.Host, "--disable-version-check", "-d", s.db}
	if s.opts.AuthFile != "" {
		args = append(args, "--smtp-auth-file", s.opts.AuthFile)
	} else {
		args = append(args, "--smtp-auth-accept-any")
	}
	if s.opts.TLSCert != "" {
		args = append(args, "--smtp-tls-cert", s.opts.TLSCert, "--smtp-tls-key", s.opts.TLSKey)
	} else {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("mailtest: start mailpit: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(s.API + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("mailtest: mailpit did not answer on %s in 15 s", s.API)
}

// Stop ends the server (the SMTP port refuses connections until Start).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Address is a mailbox of a message.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one received mail, as mailpit parsed it.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
	Raw       string    `json:"-"`
}

// Recipients are the addresses of To.
func (m Message) Recipients() []string {
	out := make([]string, 0, len(m.To))
	for _, a := range m.To {
		out = append(out, a.Address)
	}
	return out
}

func (s *Server) get(path string, v any) error {
	r, err := http.Get(s.API + path)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if r.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", path, r.Status, b)
	}
	if s, ok := v.(*string); ok {
		*s = string(b)
		return nil
	}
	return json.Unmarshal(b, v)
}

// Messages reads every message received, oldest first, each whole (text,
// HTML and the raw source).
func (s *Server) Messages() ([]Message, error) {
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	if err := s.get("/api/v1/messages?limit=1000", &list); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- { // the API lists the newest first
		var m Message
		id := list.Messages[i].ID
		if err := s.get("/api/v1/message/"+id, &m); err != nil {
			return nil, err
		}
		if err := s.get("/api/v1/message/"+id+"/raw", &m.Raw); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Wait reads the messages until ok says they are enough, for at most d.
func (s *Server) Wait(d time.Duration, ok func([]Message) bool) []Message {
	s.t.Helper()
	deadline := time.Now().Add(d)
	var ms []Message
	for {
		var err error
		ms, err = s.Messages()
		if err == nil && ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			if err != nil {
				s.t.Fatalf("mailtest: %v", err)
			}
			return ms
		}
		time.Sleep(100 * time.Millisecond)
	}
}
