// Package csv is the connector for fagsystemer that import files: it keeps
// the whole desired state of one system (accounts and role memberships) and
// writes it, after every change, as one CSV file in a configured column
// layout. The file is replaced atomically and is a pure function of the
// state (sorted, no timestamps), so a re-run gives the same bytes and never a
// repeated line. The state lives in a JSON file beside the CSV, so it
// survives restarts, and several worker processes may share one directory
// (each change locks it with flock and first reads what the others wrote).
// An optional command (no shell, with a timeout) runs after each write; one
// that failed runs again on the next call, even one that changes nothing.
package csv

import (
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
)

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Lister    = (*Connector)(nil)
)

// account is one account of the desired state.
type account struct {
	ID           string   `json:"id"`
	GivenName    string   `json:"given_name"`
	FamilyName   string   `json:"family_name"`
	Email        string   `json:"email,omitempty"`
	Municipality string   `json:"municipality,omitempty"`
	Enabled      bool     `json:"enabled"`
	Roles        []string `json:"roles,omitempty"` // sorted, no repeats
}

// state is what the state file holds.
type state struct {
	Accounts map[string]*account `json:"accounts"`
	// CommandPending: the file was written but the command has not yet
	// succeeded on it.
	CommandPending bool `json:"command_pending,omitempty"`
}

// Connector is a csv instance.
type Connector struct {
	name   string
	cfg    Config
	logger *slog.Logger
	path   string // the CSV file
	statef string // the state file beside it
	lock   *os.File

	mu      sync.Mutex
	st      state
	stInfo  fs.FileInfo // the state file this process last read or wrote
	calls   int
	writes  int
	execute func(ctx context.Context, argv []string) ([]byte, error)
}

// writeHook, when set (tests only), is called while a temporary file is
// half written, to simulate a process killed mid-write.
var writeHook func(final string)

// Open validates cfg, removes temporary files a killed process left, reads
// the state and rewrites the CSV file if it does not match the state (a
// process killed between writing the state and the file).
func Open(name string, cfg Config, logger *slog.Logger) (*Connector, error) {
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(name)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{
		name:   name,
		cfg:    cfg,
		logger: logger.With("connector", name),
		path:   filepath.Join(cfg.Dir, cfg.File),
		statef: filepath.Join(cfg.Dir, "."+cfg.File+".state.json"),
		st:     state{Accounts: map[string]*account{}},
	}
	c.execute = c.runCommand
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, "."+cfg.File+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Unavailable, err, "csv: open lock file")
	}
	c.lock = lock
	err = c.locked(context.Background(), "open", func() (bool, error) {
		tmps, _ := filepath.Glob(filepath.Join(cfg.Dir, ".tmp-*-"+cfg.File))
		tmps2, _ := filepath.Glob(filepath.Join(cfg.Dir, ".tmp-*-."+cfg.File+".state.json"))
		for _, t := range append(tmps, tmps2...) {
			os.Remove(t)
		}
		if c.stInfo == nil {
			// No state yet: write nothing. An empty file would tell the
			// importer that nobody should have an account.
			return false, nil
		}
		want, err := c.render()
		if err != nil {
			return false, err
		}
		have, err := os.ReadFile(c.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, tilgang.Wrap(tilgang.Unavailable, err, "csv: read %s", c.path)
		}
		return err != nil || !bytes.Equal(have, want), nil
	})
	if err != nil {
		lock.Close()
		return nil, err
	}
	return c, nil
}

// locked runs f holding the lock, with the state read fresh; f reports
// whether it changed the state, which is then written (state file first,
// then the CSV file) and the command run.
func (c *Connector) locked(ctx context.Context, op string, f func() (bool, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if err := syscall.Flock(int(c.lock.Fd()), syscall.LOCK_EX); err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: lock %s", c.path)
	}
	defer syscall.Flock(int(c.lock.Fd()), syscall.LOCK_UN)
	if err := c.readState(); err != nil {
		return err
	}
	changed, err := f()
	if err != nil {
		return err
	}
	if changed {
		if len(c.cfg.Command) > 0 {
			c.st.CommandPending = true
		}
		if err := c.writeState(); err != nil {
			return err
		}
		b, err := c.render()
		if err != nil {
			return err
		}
		if err := c.writeFile(c.path, b); err != nil {
			return err
		}
		c.writes++
		c.logger.Info("csv: file written", "file", c.path, "op", op, "accounts", len(c.st.Accounts), "bytes", len(b))
	}
	if c.st.CommandPending && len(c.cfg.Command) > 0 {
		if err := c.command(ctx); err != nil {
			return err
		}
		c.st.CommandPending = false
		if err := c.writeState(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Connector) readState() error {
	info, err := os.Stat(c.statef)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: state")
	}
	if c.stInfo != nil && os.SameFile(info, c.stInfo) {
		return nil // nobody replaced it since this process did
	}
	b, err := os.ReadFile(c.statef)
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: state")
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "csv: state file %s is damaged", c.statef)
	}
	if st.Accounts == nil {
		st.Accounts = map[string]*account{}
	}
	c.st, c.stInfo = st, info
	return nil
}

func (c *Connector) writeState() error {
	b, err := json.MarshalIndent(c.st, "", " ")
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "csv: state")
	}
	if err := c.writeFile(c.statef, append(b, '\n')); err != nil {
		return err
	}
	info, err := os.Stat(c.statef)
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: state")
	}
	c.stInfo = info
	return nil
}

// writeFile replaces path atomically: a temporary file in the same
// directory, written and fsynced, renamed over path, then the directory
// fsynced so the rename itself survives a power cut.
func (c *Connector) writeFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*-"+filepath.Base(path))
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: write %s", path)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: write %s", path)
	}
	if err := f.Chmod(0o640); err != nil {
		return fail(err)
	}
	half := len(b) / 2
	if _, err := f.Write(b[:half]); err != nil {
		return fail(err)
	}
	if writeHook != nil {
		writeHook(path)
	}
	if _, err := f.Write(b[half:]); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: rename into %s", path)
	}
	d, err := os.Open(dir)
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: sync %s", dir)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: sync %s", dir)
	}
	return nil
}

// render is the CSV file of the state: accounts by id, roles sorted.
func (c *Connector) render() ([]byte, error) {
	var buf bytes.Buffer
	w := stdcsv.NewWriter(&buf)
	w.Comma, _ = utf8.DecodeRuneInString(c.cfg.Delimiter)
	w.UseCRLF = c.cfg.CRLF
	if *c.cfg.Header {
		var h []string
		for _, col := range c.cfg.Columns {
			h = append(h, col.Header)
		}
		w.Write(h)
	}
	ids := make([]string, 0, len(c.st.Accounts))
	for id := range c.st.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := c.st.Accounts[id]
		roles := []string{""}
		if c.cfg.Rows == "membership" && len(a.Roles) > 0 {
			roles = a.Roles
		}
		for _, role := range roles {
			row := make([]string, len(c.cfg.Columns))
			for i, col := range c.cfg.Columns {
				row[i] = a.field(col.Field, role, c.cfg.RoleSeparator)
				if c.cfg.NeutraliseFormulas {
					row[i] = csvsafe.Cell(row[i])
				}
			}
			if err := w.Write(row); err != nil {
				return nil, tilgang.Wrap(tilgang.Internal, err, "csv: render")
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "csv: render")
	}
	return buf.Bytes(), nil
}

func (a *account) field(name, role, sep string) string {
	switch name {
	case "id":
		return a.ID
	case "given_name":
		return a.GivenName
	case "family_name":
		return a.FamilyName
	case "display_name":
		return strings.TrimSpace(a.GivenName + " " + a.FamilyName)
	case "email":
		return a.Email
	case "municipality":
		return a.Municipality
	case "enabled":
		if a.Enabled {
			return "true"
		}
		return "false"
	case "status":
		if a.Enabled {
			return "active"
		}
		return "disabled"
	case "roles":
		return strings.Join(a.Roles, sep)
	case "role":
		return role
	}
	return ""
}

// command runs the configured command on the file just written.
func (c *Connector) command(ctx context.Context) error {
	argv := make([]string, len(c.cfg.Command))
	for i, a := range c.cfg.Command {
		argv[i] = strings.ReplaceAll(a, "{file}", c.path)
	}
	start := time.Now()
	out, err := c.execute(ctx, argv)
	c.logger.Info("csv: command ran", "command", argv[0], "file", c.path, "duration", time.Since(start).Round(time.Millisecond),
		"output", tail(out, 4096), "error", errString(err))
	if err != nil {
		return tilgang.Wrap(tilgang.Unavailable, err, "csv: command %s on %s (it runs again on the next call)", argv[0], c.path)
	}
	return nil
}

func (c *Connector) runCommand(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.cfg.Dir
	cmd.Env = append(os.Environ(), "TILGANG_CSV_FILE="+c.path, "TILGANG_CONNECTOR="+c.name)
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the output pipe does not hang us
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s: %w", c.cfg.CommandTimeout, err)
	}
	return out.Bytes(), err
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	return connectors.Ref{"id": p.ID}, nil
}

func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	if a.Person.ID == "" {
		return nil, nil, tilgang.Errorf(tilgang.Invalid, "csv: ensure account: person without id")
	}
	err := c.locked(ctx, "ensure_account", func() (bool, error) {
		p := a.Person
		cur, ok := c.st.Accounts[p.ID]
		if !ok {
			c.st.Accounts[p.ID] = &account{ID: p.ID, GivenName: p.GivenName, FamilyName: p.FamilyName, Email: p.Email,
				Municipality: p.Municipality, Enabled: !a.Disabled}
			return true, nil
		}
		next := *cur
		next.GivenName, next.FamilyName, next.Email, next.Municipality = p.GivenName, p.FamilyName, p.Email, p.Municipality
		if next.GivenName == cur.GivenName && next.FamilyName == cur.FamilyName && next.Email == cur.Email && next.Municipality == cur.Municipality {
			return false, nil
		}
		c.st.Accounts[p.ID] = &next
		return true, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("csv: ensure account %s: %w", a.Person.ID, err)
	}
	return connectors.Ref{"id": a.Person.ID}, nil, nil
}

func (c *Connector) setEnabled(ctx context.Context, a connectors.Account, enabled bool) error {
	op := map[bool]string{true: "enable", false: "disable"}[enabled]
	err := c.locked(ctx, op, func() (bool, error) {
		cur, ok := c.st.Accounts[a.Person.ID]
		if !ok {
			if !enabled {
				return false, nil // nothing to disable
			}
			return false, tilgang.Errorf(tilgang.NotFound, "no account for %s", a.Person.ID)
		}
		if cur.Enabled == enabled {
			return false, nil
		}
		next := *cur
		next.Enabled = enabled
		c.st.Accounts[a.Person.ID] = &next
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("csv: %s %s: %w", op, a.Person.ID, err)
	}
	return nil
}

func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	return c.setEnabled(ctx, a, false)
}

func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	return c.setEnabled(ctx, a, true)
}

func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	if ent == "" || strings.Contains(ent, c.cfg.RoleSeparator) && c.cfg.Rows == "account" {
		return tilgang.Errorf(tilgang.Invalid, "csv: grant %q to %s: empty or holds the role separator %q", ent, a.Person.ID, c.cfg.RoleSeparator)
	}
	err := c.locked(ctx, "grant", func() (bool, error) {
		cur, ok := c.st.Accounts[a.Person.ID]
		if !ok {
			return false, tilgang.Errorf(tilgang.NotFound, "no account for %s", a.Person.ID)
		}
		i, found := slices.BinarySearch(cur.Roles, ent)
		if found {
			return false, nil
		}
		next := *cur
		next.Roles = slices.Insert(slices.Clone(cur.Roles), i, ent)
		c.st.Accounts[a.Person.ID] = &next
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("csv: grant %s to %s: %w", ent, a.Person.ID, err)
	}
	return nil
}

func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	err := c.locked(ctx, "revoke", func() (bool, error) {
		cur, ok := c.st.Accounts[a.Person.ID]
		if !ok {
			return false, nil
		}
		i, found := slices.BinarySearch(cur.Roles, ent)
		if !found {
			return false, nil
		}
		next := *cur
		next.Roles = slices.Delete(slices.Clone(cur.Roles), i, i+1)
		c.st.Accounts[a.Person.ID] = &next
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("csv: revoke %s from %s: %w", ent, a.Person.ID, err)
	}
	return nil
}

// ListMembers lists the holders of an entitlement, from the state.
func (c *Connector) ListMembers(ctx context.Context, ent string) ([]connectors.Ref, error) {
	var out []connectors.Ref
	err := c.locked(ctx, "list_members", func() (bool, error) {
		for id, a := range c.st.Accounts {
			if _, ok := slices.BinarySearch(a.Roles, ent); ok {
				out = append(out, connectors.Ref{"id": id})
			}
		}
		return false, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i]["id"] < out[j]["id"] })
	return out, err
}

// Path is the CSV file the instance writes.
func (c *Connector) Path() string { return c.path }

func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return nil
	}
	err := c.lock.Close()
	c.lock = nil
	return err
}
