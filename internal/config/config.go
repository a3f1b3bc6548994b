// Package config is the configuration of `tilgang worker --config FILE`:
// the YAML schema (type Config), strict loading with file:line problems,
// validation that reports every problem at once, defaults, secret
// resolution (the ledger DSN from an environment variable or a file) and a
// redacted rendering for `tilgang config check`.
//
// Decisions where DESIGN.md is silent:
//   - Loading is strict: an unknown key, a key given twice, a value of the
//     wrong kind or a second YAML document is a problem naming the field
//     path and the line. Connector settings are decoded just as strictly
//     into the Config their type registered (connectors.Registry).
//   - When a file has such mistakes, Load's error also lists what Validate
//     finds in the rest of the file, so one run shows every mistake.
//   - Exactly one of ledger.dsn_env, ledger.dsn_file and ledger.dsn is set;
//     with none, dsn_env defaults to TILGANG_LEDGER_DSN. An inline DSN may
//     not hold a password. Files holding secrets (ledger.dsn_file,
//     nats.creds_file, nats.nkey_seed_file, nats.tls.key_file) must not be
//     readable by everyone.
//   - nats.stream_replicas defaults to 3: production is a cluster, and a
//     single server told 3 fails loudly at start-up, while a cluster told 1
//     would quietly keep one copy of the input record.
//   - Connector settings whose key looks like a secret (password, secret,
//     token, passphrase, api_key, ...; but not *_file or *_env, which name
//     where a secret is) or whose struct field is tagged `secret:"true"` are
//     redacted when printed and never quoted in problems; a password in any
//     URL is redacted too.
//   - A connector Config may implement `Validate() error`; its problems are
//     reported under connectors.<name>.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// DefaultDSNEnv is the environment variable the ledger DSN comes from when
// the file names no source.
const DefaultDSNEnv = "TILGANG_LEDGER_DSN"

// Config is the YAML schema of `tilgang worker --config FILE`. An example
// (deploy/worker.example.yaml is the annotated one):
//
//	name: ""                     # replica name in claims and the intake lease; default <hostname>-<pid>
//	nats:
//	  url: nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222
//	  creds_file: /etc/tilgang/secrets/worker.creds   # optional; or nkey_seed_file
//	  nkey_seed_file: ""
//	  tls: {ca_file: /etc/tilgang/nats-ca.pem, cert_file: "", key_file: ""}   # optional
//	  stream_replicas: 3         # JetStream replicas of TILGANG_IN / TILGANG_EVENTS (1 for a single server)
//	ledger:
//	  driver: postgres           # postgres | sqlite
//	  dsn_env: TILGANG_LEDGER_DSN   # the DSN comes from this environment variable, or
//	  dsn_file: ""               # from this file (first line), or
//	  dsn: ""                    # inline (never with a password)
//	  max_conns: 8
//	principals: /etc/tilgang/principals.yaml
//	worker_key: /etc/tilgang/keys/worker.nk  # the seed of principal worker: signs audit anchors
//	policies: /etc/tilgang/policies
//	http: 127.0.0.1:8480         # /healthz, /readyz, /metrics
//	intake: {batch: 256, lease_ttl: 10s}
//	executor: {workers: 32, claim_lease: 60s, call_timeout: 20s, max_attempts: 8}
//	log: {format: json, level: info}
//	retention: {min: 5y}         # how far back `tilgang erase --before DATE` must at least reach
//	reconcile: {every: 24h, fix: false}   # reconciliation on a schedule (reconcile.go)
//	connectors:                  # instance name -> type and the type's own settings
//	  manual: {type: manual}
//	  noop: {type: noop, journal: /var/lib/tilgang/noop.journal}
//
// Durations are Go durations ("10s", "1m30s").
type Config struct {
	Name       string `yaml:"name"`
	NATS       NATS   `yaml:"nats"`
	Ledger     Ledger `yaml:"ledger"`
	Principals string `yaml:"principals"`
	// WorkerKey names the file holding the seed of the service principal
	// worker, which signs audit anchors.
	WorkerKey  string               `yaml:"worker_key"`
	Policies   string               `yaml:"policies"`
	HTTP       string               `yaml:"http"`
	Intake     Intake               `yaml:"intake"`
	Executor   Executor             `yaml:"executor"`
	Log        Log                  `yaml:"log"`
	Connectors map[string]Connector `yaml:"connectors"`
	Retention  Retention            `yaml:"retention"` // retention.go
	Portal     *Portal              `yaml:"portal"`    // optional; see Portal
	Reconcile  Reconcile            `yaml:"reconcile"` // reconcile.go
	Notify     *Notify              `yaml:"notify"`    // optional; notify.go
	// Telemetry exports traces over OTLP/HTTP (telemetry.Config); optional.
	Telemetry *telemetry.Config `yaml:"telemetry"`
	// Audit is the audit verify schedule:
	//
	//	audit:
	//	  verify_every: 24h   # the active replica verifies the chain when the last run is older; default 24h, at least 10m
	Audit Audit `yaml:"audit"`

	// HRSources are the HR systems synced (hrsources.go); optional.
	HRSources map[string]*HRSource `yaml:"hr_sources"`

	// Getenv reads environment variables (os.Getenv when nil); tests set it.
	Getenv func(string) string `yaml:"-"`

	file  string         // the file it was loaded from, for problems
	lines map[string]int // field path -> line of its key in the file
}

// NATS is how the worker reaches the NATS cluster.
type NATS struct {
	// URL is one server or a comma-separated list (nats://, tls://, ws://, wss://).
	URL string `yaml:"url"`
	// CredsFile is a NATS credentials file (JWT and nkey seed); secret.
	CredsFile string `yaml:"creds_file"`
	// NKeySeedFile is an nkey user seed for NATS authentication; secret.
	NKeySeedFile   string `yaml:"nkey_seed_file"`
	TLS            TLS    `yaml:"tls"`
	StreamReplicas int    `yaml:"stream_replicas"`
}

// TLS of the NATS connection; all optional.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"` // secret
}

// Ledger is the database.
type Ledger struct {
	Driver   string `yaml:"driver"` // postgres | sqlite
	DSNEnv   string `yaml:"dsn_env"`
	DSNFile  string `yaml:"dsn_file"`
	DSN      string `yaml:"dsn"` // for sqlite: the database file
	MaxConns int    `yaml:"max_conns"`
}

// Intake settings: the intake reads batches while it holds the lease.
type Intake struct {
	Batch    int           `yaml:"batch"`
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Executor settings: claims of due operations and calls to connectors.
type Executor struct {
	Workers     int           `yaml:"workers"`
	ClaimLease  time.Duration `yaml:"claim_lease"`
	CallTimeout time.Duration `yaml:"call_timeout"`
	MaxAttempts int           `yaml:"max_attempts"`
}

// Log settings.
type Log struct {
	Format string `yaml:"format"` // json | text
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// Connector is one connector instance: its type and the type's own
// settings, written beside `type` in the same mapping.
type Connector struct {
	Type   string
	Config connectors.Config
}

// Defaults.
const (
	DefaultHTTP           = "127.0.0.1:8480"
	DefaultStreamReplicas = 3
	DefaultMaxConns       = 8
	DefaultBatch          = 1024
	DefaultLeaseTTL       = 10 * time.Second
	DefaultWorkers        = 32
	DefaultClaimLease     = 60 * time.Second
	DefaultCallTimeout    = 20 * time.Second
	DefaultMaxAttempts    = 8
)

// Problem is one thing wrong in a configuration.
type Problem struct {
	File string // the config file; "" when the Config was not loaded from one
	Line int    // 1-based; 0 when unknown
	Path string // the field path, e.g. ledger.driver or connectors.ad.url
	Msg  string
}

// String is "file:line: path: msg", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found, in file order. tilgang.KindOf reads it as
// Invalid.
type Error struct {
	Problems []Problem
}

// Error prints one problem a line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap classifies the error for tilgang.KindOf and errors.As.
func (e *Error) Unwrap() error {
	return &tilgang.Error{Kind: tilgang.Invalid, Message: "invalid configuration"}
}

// Load reads the worker configuration at path, decoding connector settings
// with the types in reg, and applies the defaults. The error, an *Error,
// lists every problem with its line; the caller runs Validate on success.
func Load(path string, reg *connectors.Registry) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{Problems: []Problem{{File: path, Msg: "cannot read the config file: " + err.Error()}}}
	}
	return Parse(path, data, reg, os.Getenv)
}

// Parse is Load on the bytes of a file, reading environment variables with
// getenv (os.Getenv when nil); path is only for problems. Relative paths in
// the file are relative to the working directory, not to the file.
func Parse(path string, data []byte, reg *connectors.Registry, getenv func(string) string) (*Config, error) {
	d := &decoder{file: path, reg: reg, lines: map[string]int{}}
	c := &Config{file: path, lines: d.lines, Getenv: getenv}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, &Error{Problems: []Problem{{File: path, Msg: "the file is empty"}}}
	case err != nil:
		return nil, &Error{Problems: []Problem{syntaxProblem(path, err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(extra.Line, "", "a second YAML document (---): the config is one document")
	} else if !errors.Is(err, io.EOF) {
		d.probs = append(d.probs, syntaxProblem(path, err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, &Error{Problems: []Problem{{File: path, Msg: "the file is empty"}}}
	}
	d.value(root, reflectOf(c), "", false)
	c.applyDefaults()
	if len(d.probs) == 0 {
		return c, nil
	}
	// Show the rest too, leaving out what follows from a field that did not decode.
	probs := d.probs
	var verr *Error
	if errors.As(c.Validate(), &verr) {
		for _, p := range verr.Problems {
			if !d.failedUnder(p.Path) {
				probs = append(probs, p)
			}
		}
	}
	sortProblems(probs)
	return nil, &Error{Problems: probs}
}

func syntaxProblem(path string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return Problem{File: path, Line: line, Msg: "not valid YAML: " + msg}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Path < ps[j].Path
	})
}

// applyDefaults fills what the file left out.
func (c *Config) applyDefaults() {
	if c.Name == "" {
		c.Name = defaultName()
	}
	if c.NATS.StreamReplicas == 0 {
		c.NATS.StreamReplicas = DefaultStreamReplicas
	}
	if c.Ledger.DSNEnv == "" && c.Ledger.DSNFile == "" && c.Ledger.DSN == "" {
		c.Ledger.DSNEnv = DefaultDSNEnv
	}
	if c.Ledger.MaxConns == 0 {
		c.Ledger.MaxConns = DefaultMaxConns
	}
	if c.HTTP == "" {
		c.HTTP = DefaultHTTP
	}
	if c.Intake.Batch == 0 {
		c.Intake.Batch = DefaultBatch
	}
	if c.Intake.LeaseTTL == 0 {
		c.Intake.LeaseTTL = DefaultLeaseTTL
	}
	if c.Executor.Workers == 0 {
		c.Executor.Workers = DefaultWorkers
	}
	if c.Executor.ClaimLease == 0 {
		c.Executor.ClaimLease = DefaultClaimLease
	}
	if c.Executor.CallTimeout == 0 {
		c.Executor.CallTimeout = DefaultCallTimeout
	}
	if c.Executor.MaxAttempts == 0 {
		c.Executor.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retention.Min == "" {
		c.Retention.Min = DefaultRetentionMin
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

func defaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tilgang"
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// ConnectorConfigs is every connector instance's decoded settings by
// instance name, ready for Open(name, logger).
func (c *Config) ConnectorConfigs() map[string]connectors.Config {
	out := make(map[string]connectors.Config, len(c.Connectors))
	for name, inst := range c.Connectors {
		out[name] = inst.Config
	}
	return out
}

// ConnectorNames lists the connector instance names, sorted (what
// policy.Load takes).
func (c *Config) ConnectorNames() []string {
	names := make([]string, 0, len(c.Connectors))
	for n := range c.Connectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// File is the path the config was loaded from ("" when built in code).
func (c *Config) File() string { return c.file }

// Logger builds the logger log.format and log.level ask for, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func (c *Config) getenv(k string) string {
	if c.Getenv != nil {
		return c.Getenv(k)
	}
	return os.Getenv(k)
}

// line is where path's key is in the file, or that of its nearest parent.
func (c *Config) line(path string) int {
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (c *Config) problem(path, format string, args ...any) Problem {
	return Problem{File: c.file, Line: c.line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Audit is the `audit:` section.
type Audit struct {
	VerifyEvery time.Duration `yaml:"verify_every"`
}

// MinVerifyEvery is the shortest audit verify schedule: each run reads the
// whole chain.
const MinVerifyEvery = 10 * time.Minute
