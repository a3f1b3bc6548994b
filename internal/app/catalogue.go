package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// SyncSubject is where a replica tells the others that the catalogue in
// force changed (core NATS, every replica hears it). A message with a reply
// subject asks each replica to answer, once it has followed the ledger,
// with what it holds (api.ReplicaCatalogue).
const SyncSubject = "tilgang.catalogue.sync"

const (
	defaultSyncEvery = 5 * time.Second
	// A reload collects the replicas' answers until this long after the
	// last one, and for at most collectAtMost.
	collectQuiet  = time.Second
	collectAtMost = 3 * time.Second
)

// localCatalogue reads the policy files in dir and loads them from memory,
// as every replica loads them from the ledger, so the version stored is
// the version of exactly the files read.
func localCatalogue(dir string, connectors []string) (*policy.Catalogue, map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		_, err = policy.Load(dir, connectors) // says what is wrong with the directory
		return nil, nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		// What policy.Load reads: *.yaml system files, and *.yml files it refuses.
		if e.IsDir() || strings.HasPrefix(name, ".") || !(policy.IsPolicyFile(name) || strings.HasSuffix(name, ".yml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("policy: read %s: %w", filepath.Join(dir, name), err)
		}
		files[name] = b
	}
	cat, err := policy.LoadFS(memFS(files), connectors)
	if err != nil {
		// The same problems, named by their paths.
		if _, derr := policy.Load(dir, connectors); derr != nil {
			err = derr
		}
		return nil, nil, err
	}
	return cat, files, nil
}

// storedCatalogue loads a catalogue the ledger holds, checking it against
// this replica's connector instances.
func storedCatalogue(c *ledger.Catalogue, connectors []string) (*policy.Catalogue, error) {
	cat, err := policy.LoadFS(memFS(c.Files), connectors)
	if err != nil {
		return nil, fmt.Errorf("catalogue %s stored by %s (%s): %w", short(c.Version), c.Holder, c.Actor, err)
	}
	if cat.Version != c.Version {
		return nil, fmt.Errorf("catalogue %s stored by %s: its files are version %s", short(c.Version), c.Holder, short(cat.Version))
	}
	return cat, nil
}

func short(version string) string {
	if len(version) > 12 {
		return version[:12]
	}
	return version
}

// storeLocal loads the local policy files and stores them in the ledger as
// the catalogue in force, audited as policy.reload by actor, in one
// transaction; the engine then decides with them. Unless always, nothing is
// stored when the ledger holds them already (at start).
func (p *Parts) storeLocal(ctx context.Context, actor string, always bool) (cat *policy.Catalogue, changed bool, err error) {
	cat, files, err := localCatalogue(p.PoliciesDir, p.Connectors.Names())
	if err != nil {
		return nil, false, err
	}
	tx, err := p.Ledger.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	from, err := tx.CatalogueVersion()
	if err != nil {
		tx.Rollback()
		return nil, false, err
	}
	changed = from != cat.Version
	if !changed && !always {
		tx.Rollback()
		p.Engine.SetCatalogue(cat)
		return cat, false, nil
	}
	now := p.Engine.Now().UTC()
	if changed {
		if err := tx.PutCatalogue(ledger.Catalogue{Version: cat.Version, Files: files, At: now, Actor: actor, Holder: p.Holder}); err != nil {
			tx.Rollback()
			return nil, false, err
		}
	}
	// The faggruppe's decision is recorded: who asked, from which version to which.
	tx.Audit(ledger.AuditEntry{At: now, Kind: "policy.reload", Actor: actor, Catalogue: cat.Version,
		Details: map[string]string{"from": from, "systems": fmt.Sprint(len(cat.Systems)), "replica": p.Holder}})
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	p.catMu.Lock()
	p.catFailed, p.catErr = "", nil
	p.catMu.Unlock()
	p.Engine.SetCatalogue(cat)
	return cat, changed, nil
}

// follow brings the engine to the catalogue the ledger holds in force.
func (p *Parts) follow(ctx context.Context) error {
	v, err := p.Ledger.CatalogueVersion(ctx)
	if err != nil {
		return err
	}
	return p.adopt(v, func() (*ledger.Catalogue, error) { return p.Ledger.Catalogue(ctx) })
}

// followInTx is follow inside the intake's transaction (intake.Catalogue).
func (p *Parts) followInTx(tx ledger.Tx) error {
	v, err := tx.CatalogueVersion()
	if err != nil {
		return err
	}
	return p.adopt(v, tx.Catalogue)
}

// adopt loads the stored catalogue when version is not the engine's. A
// catalogue that fails to load here (a connector instance this replica
// lacks, say) is logged once and its error returned until another is in
// force; the engine keeps the one it has.
func (p *Parts) adopt(version string, read func() (*ledger.Catalogue, error)) error {
	if version == "" || version == p.Engine.Catalogue().Version {
		return nil
	}
	p.catMu.Lock()
	defer p.catMu.Unlock()
	old := p.Engine.Catalogue()
	if version == old.Version {
		return nil // loaded meanwhile
	}
	if version == p.catFailed {
		return p.catErr
	}
	c, err := read()
	if err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	cat, err := storedCatalogue(c, p.Connectors.Names())
	if err != nil {
		p.catFailed, p.catErr = c.Version, err
		p.Log.Error("catalogue: cannot load the catalogue in force; this replica's intake will not decide until it can",
			"catalogue", short(old.Version), "in_force", short(c.Version), "err", err)
		return err
	}
	p.catFailed, p.catErr = "", nil
	p.Engine.SetCatalogue(cat)
	p.Log.Info("catalogue: following the ledger", "from", short(old.Version), "to", short(cat.Version), "stored_by", c.Actor, "stored_on", c.Holder)
	return nil
}

// status is what this replica holds, with err its last failure to follow.
func (p *Parts) status(err error) api.ReplicaCatalogue {
	r := api.ReplicaCatalogue{Replica: p.Holder, Version: p.Engine.Catalogue().Version, Intake: p.Lease == nil || p.Lease.Token() != 0}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// followLedger keeps the engine on the ledger's catalogue until ctx ends:
// at every message on SyncSubject (answering those that ask) and every
// SyncEvery, as a backstop for a message missed.
func (p *Parts) followLedger(ctx context.Context) error {
	msgs := make(chan *nats.Msg, 64)
	sub, err := p.NC.ChanSubscribe(SyncSubject, msgs)
	if err != nil {
		return fmt.Errorf("catalogue: subscribe %s: %w", SyncSubject, err)
	}
	if err := p.NC.Flush(); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("catalogue: subscribe %s: %w", SyncSubject, err)
	}
	go func() {
		defer sub.Unsubscribe()
		every := p.SyncEvery
		if every <= 0 {
			every = defaultSyncEvery
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var asked []*nats.Msg
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case m := <-msgs:
				asked = append(asked, m)
			more:
				for {
					select {
					case m := <-msgs:
						asked = append(asked, m)
					default:
						break more
					}
				}
			}
			err := p.follow(ctx)
			if err != nil && ctx.Err() == nil && !errors.Is(err, p.lastFailure()) {
				p.Log.Warn("catalogue: cannot follow the ledger", "err", err)
			}
			body, _ := json.Marshal(p.status(err))
			for _, m := range asked {
				if m.Reply != "" {
					_ = m.Respond(body)
				}
			}
		}
	}()
	return nil
}

func (p *Parts) lastFailure() error {
	p.catMu.Lock()
	defer p.catMu.Unlock()
	return p.catErr
}

// askReplicas tells every replica to follow the ledger and collects what
// each then holds.
func (p *Parts) askReplicas(ctx context.Context) ([]api.ReplicaCatalogue, error) {
	inbox := p.NC.NewInbox()
	sub, err := p.NC.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("catalogue: ask the replicas: %w", err)
	}
	defer sub.Unsubscribe()
	if err := p.NC.PublishRequest(SyncSubject, inbox, nil); err != nil {
		return nil, fmt.Errorf("catalogue: ask the replicas: %w", err)
	}
	end := time.Now().Add(collectAtMost)
	next := end
	var out []api.ReplicaCatalogue
	for {
		c, cancel := context.WithDeadline(ctx, next)
		m, err := sub.NextMsgWithContext(c)
		cancel()
		if err != nil {
			break
		}
		var r api.ReplicaCatalogue
		if err := json.Unmarshal(m.Data, &r); err != nil {
			r = api.ReplicaCatalogue{Replica: "?", Error: "an answer that is not valid JSON: " + err.Error()}
		}
		out = append(out, r)
		if next = time.Now().Add(collectQuiet); next.After(end) {
			next = end
		}
	}
	slices.SortFunc(out, func(a, b api.ReplicaCatalogue) int { return strings.Compare(a.Replica, b.Replica) })
	return out, nil
}

// memFS is a directory of files in memory (policy.LoadFS reads a
// catalogue from it).
type memFS map[string][]byte

var (
	_ fs.ReadDirFS  = memFS(nil)
	_ fs.ReadFileFS = memFS(nil)
)

func (m memFS) Open(name string) (fs.File, error) {
	if name == "." {
		return &memDir{m: m}, nil
	}
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{info: memInfo{name: name, size: len(b)}, data: b}, nil
}

func (m memFS) ReadFile(name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(b), nil
}

func (m memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: n, size: len(m[n])}))
	}
	return out, nil
}

type memInfo struct {
	name string
	size int
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return int64(i.size) }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	info memInfo
	data []byte
	off  int
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Read(b []byte) (int, error) {
	if f.off >= len(f.data) {
		return 0, io.EOF
	}
	n := copy(b, f.data[f.off:])
	f.off += n
	return n, nil
}

type memDir struct{ m memFS }

func (d *memDir) Stat() (fs.FileInfo, error) { return memInfo{name: ".", dir: true}, nil }
func (d *memDir) Close() error               { return nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
