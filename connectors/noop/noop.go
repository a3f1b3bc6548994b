// Package noop is a connector that provisions into nothing but remembers
// what it was asked: it counts calls and effects (calls that changed its
// state), for tests and benchmarks. With a journal file its state and its
// effects survive a killed process, so a crash test can check that every
// effect happened exactly once at the target. Several processes may share
// one journal (each call locks it with flock and first applies what the
// others appended), as worker replicas share one real target.
package noop

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Config of a noop instance:
//
//	type: noop
//	journal: /var/lib/tilgang/noop.journal   # optional; every effect appended and synced
type Config struct {
	Journal string `yaml:"journal"`
}

func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Open(*c)
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Lister    = (*Connector)(nil)
)

// Effect is one change the connector made.
type Effect struct {
	Op          string // create, disable, enable, grant, revoke
	Person      string
	Entitlement string
}

func (e Effect) String() string { return e.Op + "\t" + e.Person + "\t" + e.Entitlement }

// Connector is a noop instance.
type Connector struct {
	mu       sync.Mutex
	accounts map[string]bool            // person -> enabled
	members  map[string]map[string]bool // entitlement -> person set
	calls    map[string]int
	effects  []Effect
	journal  *os.File
	offset   int64 // how much of the journal this process has applied
}

// Open makes an instance; with a journal it replays the state first.
func Open(cfg Config) (*Connector, error) {
	c := &Connector{accounts: map[string]bool{}, members: map[string]map[string]bool{}, calls: map[string]int{}}
	if cfg.Journal == "" {
		return c, nil
	}
	f, err := os.OpenFile(cfg.Journal, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("noop: open journal: %w", err)
	}
	c.journal = f
	if err := c.catchUp(); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// catchUp applies what other processes appended to the journal since this
// one last looked: several workers may share one journal, like one target.
func (c *Connector) catchUp() error {
	st, err := c.journal.Stat()
	if err != nil {
		return fmt.Errorf("noop: journal: %w", err)
	}
	if st.Size() == c.offset {
		return nil
	}
	buf := make([]byte, st.Size()-c.offset)
	if _, err := c.journal.ReadAt(buf, c.offset); err != nil {
		return fmt.Errorf("noop: journal: %w", err)
	}
	text := string(buf)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i+1] // a torn last line is not an effect yet
	} else {
		return nil
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			continue
		}
		e := Effect{Op: parts[0], Person: parts[1], Entitlement: parts[2]}
		c.apply(e)
		c.effects = append(c.effects, e)
	}
	c.offset += int64(len(text))
	return nil
}

// ReadJournal reads the effects a journal holds, in order.
func ReadJournal(path string) ([]Effect, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Effect
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			continue // a torn last line from a killed process: the effect was never acknowledged
		}
		out = append(out, Effect{Op: parts[0], Person: parts[1], Entitlement: parts[2]})
	}
	return out, sc.Err()
}

func (c *Connector) apply(e Effect) bool {
	switch e.Op {
	case "create":
		if _, ok := c.accounts[e.Person]; ok {
			return false
		}
		c.accounts[e.Person] = e.Entitlement != "disabled"
	case "disable", "enable":
		want := e.Op == "enable"
		if en, ok := c.accounts[e.Person]; !ok || en == want {
			return false
		}
		c.accounts[e.Person] = want
	case "grant":
		m := c.members[e.Entitlement]
		if m == nil {
			m = map[string]bool{}
			c.members[e.Entitlement] = m
		}
		if m[e.Person] {
			return false
		}
		m[e.Person] = true
	case "revoke":
		if !c.members[e.Entitlement][e.Person] {
			return false
		}
		delete(c.members[e.Entitlement], e.Person)
	}
	return true
}

func (c *Connector) do(op string, e Effect) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	if c.journal != nil {
		// One writer at a time across processes; catch up before deciding.
		if err := syscall.Flock(int(c.journal.Fd()), syscall.LOCK_EX); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "noop: lock journal")
		}
		defer syscall.Flock(int(c.journal.Fd()), syscall.LOCK_UN)
		if err := c.catchUp(); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "noop: journal")
		}
	}
	if _, ok := c.accounts[e.Person]; !ok && e.Op == "grant" {
		return tilgang.Errorf(tilgang.NotFound, "noop: no account for %s", e.Person)
	}
	if !c.apply(e) {
		return nil
	}
	c.effects = append(c.effects, e)
	if c.journal != nil {
		line := e.String() + "\n"
		if _, err := c.journal.WriteString(line); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "noop: journal")
		}
		if err := c.journal.Sync(); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "noop: journal sync")
		}
		c.offset += int64(len(line))
	}
	return nil
}

func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	c.mu.Lock()
	c.calls["resolve"]++
	c.mu.Unlock()
	return connectors.Ref{"id": p.ID}, nil
}

func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	state := "enabled"
	if a.Disabled {
		state = "disabled"
	}
	return connectors.Ref{"id": a.Person.ID}, nil, c.do("ensure_account", Effect{"create", a.Person.ID, state})
}

func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	return c.do("disable", Effect{"disable", a.Person.ID, ""})
}

func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	return c.do("enable", Effect{"enable", a.Person.ID, ""})
}

func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	return c.do("grant", Effect{"grant", a.Person.ID, ent})
}

func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	return c.do("revoke", Effect{"revoke", a.Person.ID, ent})
}

func (c *Connector) ListMembers(ctx context.Context, ent string) ([]connectors.Ref, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []connectors.Ref
	for p := range c.members[ent] {
		out = append(out, connectors.Ref{"id": p})
	}
	return out, nil
}

// Replay applies an effect read from a journal and reports whether it
// changed anything: a check that no effect was done twice.
func (c *Connector) Replay(e Effect) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apply(e)
}

// Calls counts calls by method.
func (c *Connector) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// Effects lists the changes made, in order.
func (c *Connector) Effects() []Effect {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Effect(nil), c.effects...)
}

// Enabled reports whether the person has an enabled account.
func (c *Connector) Enabled(person string) (enabled, exists bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	enabled, exists = c.accounts[person]
	return
}

// Member reports whether the person holds the entitlement.
func (c *Connector) Member(person, ent string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[ent][person]
}

func (c *Connector) Close() error {
	if c.journal != nil {
		return c.journal.Close()
	}
	return nil
}
