package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/streams"
)

var (
	replicaName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	instanceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// MinLeaseTTL is the shortest intake lease: the holder renews it every few
// seconds, and a shorter one would lapse under an ordinary GC pause or a
// slow commit, bouncing the intake between replicas.
const MinLeaseTTL = 3 * time.Second

// Validate reports every problem in the configuration at once, each naming
// its field path (and line, when loaded from a file), as an *Error. It
// checks that the files named exist and can be read, that files holding
// secrets are not readable by everyone, and that the ledger DSN resolves.
func (c *Config) Validate() error {
	var probs []Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, c.problem(path, format, args...))
	}

	if !replicaName.MatchString(c.Name) {
		add("name", "%q is not a usable replica name: letters, digits, '.', '-' and '_', at most 100", c.Name)
	}

	// NATS
	if strings.TrimSpace(c.NATS.URL) == "" {
		add("nats.url", "missing: the NATS server(s), e.g. nats://nats-1:4222,nats://nats-2:4222")
	} else {
		for _, s := range strings.Split(c.NATS.URL, ",") {
			if msg := checkNATSURL(strings.TrimSpace(s)); msg != "" {
				add("nats.url", "%s", msg)
			}
		}
	}
	if c.NATS.CredsFile != "" && c.NATS.NKeySeedFile != "" {
		add("nats", "set only one of creds_file and nkey_seed_file")
	}
	c.checkFile(add, "nats.creds_file", c.NATS.CredsFile, true)
	c.checkFile(add, "nats.nkey_seed_file", c.NATS.NKeySeedFile, true)
	c.checkFile(add, "nats.tls.ca_file", c.NATS.TLS.CAFile, false)
	c.checkFile(add, "nats.tls.cert_file", c.NATS.TLS.CertFile, false)
	c.checkFile(add, "nats.tls.key_file", c.NATS.TLS.KeyFile, true)
	if (c.NATS.TLS.CertFile == "") != (c.NATS.TLS.KeyFile == "") {
		add("nats.tls", "a client certificate needs both cert_file and key_file")
	}
	if r := c.NATS.StreamReplicas; r < 1 || r > 5 {
		add("nats.stream_replicas", "%d is not between 1 and 5 (1 for a single server, 3 for a cluster)", r)
	}

	// Ledger
	switch c.Ledger.Driver {
	case "postgres", "sqlite":
	case "":
		add("ledger.driver", "missing: postgres or sqlite")
	default:
		add("ledger.driver", "%q is not one of postgres, sqlite", c.Ledger.Driver)
	}
	sources := 0
	for _, s := range []string{c.Ledger.DSNEnv, c.Ledger.DSNFile, c.Ledger.DSN} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources > 1:
		add("ledger", "set only one of dsn_env, dsn_file and dsn")
	case sources == 0:
		add("ledger", "no DSN: set dsn_env (the name of an environment variable), dsn_file or dsn")
	default:
		dsnOK := true
		if c.Ledger.DSNEnv != "" && !envName.MatchString(c.Ledger.DSNEnv) {
			add("ledger.dsn_env", "%q is not an environment variable name", c.Ledger.DSNEnv)
			dsnOK = false
		}
		if c.Ledger.DSNFile != "" {
			dsnOK = c.checkFile(add, "ledger.dsn_file", c.Ledger.DSNFile, true) && dsnOK
		}
		if c.Ledger.DSN != "" && c.Ledger.Driver == "postgres" && hasPassword(c.Ledger.DSN) {
			add("ledger.dsn", "holds a password: put the DSN in an environment variable (dsn_env) or a file (dsn_file) instead")
			dsnOK = false
		}
		if dsnOK {
			if dsn, err := c.DSN(); err != nil {
				probs = append(probs, c.dsnProblem(err))
			} else if msg := checkDSN(c.Ledger.Driver, dsn); msg != "" {
				add(c.dsnPath(), "%s", msg)
			}
		}
	}
	if c.Ledger.MaxConns < 1 {
		add("ledger.max_conns", "%d must be at least 1", c.Ledger.MaxConns)
	}

	// The worker's own key: it signs audit anchors, without which a
	// rewritten or deleted chain row goes unnoticed.
	if c.WorkerKey == "" {
		add("worker_key", "missing: the seed file of the service principal worker, which signs audit anchors (make one with `nk -gen user`, and add its public key to the principals file as principal worker)")
	} else {
		c.checkFile(add, "worker_key", c.WorkerKey, true)
	}

	// Catalogue and principals
	if c.Principals == "" {
		add("principals", "missing: the principals file (who may sign what)")
	} else {
		c.checkFile(add, "principals", c.Principals, false)
	}
	if c.Policies == "" {
		add("policies", "missing: the policy catalogue directory")
	} else {
		c.checkDir(add, "policies", c.Policies)
	}

	// HTTP
	if msg := checkListen(c.HTTP); msg != "" {
		add("http", "%s", msg)
	}

	// Intake and executor
	if b := c.Intake.Batch; b < 1 || b > streams.MaxBatch {
		add("intake.batch", "%d is not between 1 and %d (the most messages the intake commits at once)", b, streams.MaxBatch)
	}
	if c.Intake.LeaseTTL <= MinLeaseTTL {
		add("intake.lease_ttl", "%s must be longer than %s", c.Intake.LeaseTTL, MinLeaseTTL)
	}
	if c.Executor.Workers < 1 {
		add("executor.workers", "%d must be at least 1", c.Executor.Workers)
	}
	if c.Executor.CallTimeout <= 0 {
		add("executor.call_timeout", "%s must be longer than 0s", c.Executor.CallTimeout)
	}
	// The longest call a claim covers is a bulk call (many memberships of
	// one group at once), which the executor gives up to
	// executor.MaxBulkTimeouts call timeouts.
	if longest := executor.MaxBulkTimeouts * c.Executor.CallTimeout; c.Executor.ClaimLease <= longest {
		add("executor.claim_lease", "%s must be longer than executor.call_timeout (%s) × %d = %s, the longest a bulk call may take: a claim must outlive the call it covers",
			c.Executor.ClaimLease, c.Executor.CallTimeout, executor.MaxBulkTimeouts, longest)
	}
	if c.Executor.MaxAttempts < 1 {
		add("executor.max_attempts", "%d must be at least 1", c.Executor.MaxAttempts)
	}

	// Log
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format", "%q is not one of json, text", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}

	// Connectors
	if len(c.Connectors) == 0 {
		add("connectors", "missing: at least one connector instance (the catalogue's systems name them), e.g. manual: {type: manual}")
	}
	for _, name := range c.ConnectorNames() {
		p := "connectors." + name
		if !instanceName.MatchString(name) {
			add(p, "%q is not a usable instance name: letters, digits, '-' and '_'", name)
		}
		inst := c.Connectors[name]
		if inst.Config == nil {
			add(p+".type", "missing")
			continue
		}
		if v, ok := inst.Config.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					add(p, "%s", line)
				}
			}
		}
	}

	c.validatePortal(add)
	c.validateNotify(add)
	if v := c.Audit.VerifyEvery; v < 0 || (v > 0 && v < MinVerifyEvery) {
		add("audit.verify_every", "%s is shorter than %s: each run reads the whole chain", v, MinVerifyEvery)
	}
	c.Telemetry.Check(func(field, format string, args ...any) { add("telemetry."+field, format, args...) })
	c.validateHRSources(add)

	if len(probs) == 0 {
		return nil
	}
	sortProblems(probs)
	return &Error{Problems: probs}
}

// checkFile adds a problem unless path (when set) is a readable file; a
// secret one must not be readable by everyone.
func (c *Config) checkFile(add func(string, string, ...any), field, path string, secret bool) bool {
	if path == "" {
		return true
	}
	st, err := os.Stat(path)
	if err != nil {
		add(field, "%s", fileError(path, err))
		return false
	}
	if st.IsDir() {
		add(field, "%s is a directory, not a file", path)
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		add(field, "%s", fileError(path, err))
		return false
	}
	f.Close()
	if secret && st.Mode().Perm()&0o004 != 0 {
		add(field, "%s holds a secret but everyone may read it (mode %04o): chmod o-rwx %s", path, st.Mode().Perm(), path)
		return false
	}
	return true
}

func (c *Config) checkDir(add func(string, string, ...any), field, path string) {
	st, err := os.Stat(path)
	if err != nil {
		add(field, "%s", fileError(path, err))
		return
	}
	if !st.IsDir() {
		add(field, "%s is not a directory", path)
		return
	}
	if _, err := os.ReadDir(path); err != nil {
		add(field, "%s", fileError(path, err))
	}
}

func fileError(path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist"
	case errors.Is(err, fs.ErrPermission):
		return path + " cannot be read: permission denied for this user"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return path + " cannot be read: " + err.Error()
}

func checkNATSURL(s string) string {
	if s == "" {
		return "an empty entry in the comma-separated list"
	}
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "an entry is not a URL (nats://host:4222)"
	}
	if u.User != nil {
		return "a URL holds a user, password or token: use creds_file or nkey_seed_file instead"
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Sprintf("%q: the scheme must be nats, tls, ws or wss", u.Redacted())
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q: the port is not a number between 1 and 65535", u.Redacted())
		}
	}
	return ""
}

func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:8480, or :8480 for every interface)", addr)
	}
	_ = host
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: the port is not a number between 0 and 65535", addr)
	}
	return ""
}

// DSN resolves the ledger DSN from ledger.dsn_env, ledger.dsn_file (its
// first line) or ledger.dsn. Errors name the variable or the file, never
// the DSN.
func (c *Config) DSN() (string, error) {
	l := c.Ledger
	switch {
	case l.DSNEnv != "":
		v := strings.TrimSpace(c.getenv(l.DSNEnv))
		if v == "" {
			return "", fmt.Errorf("ledger.dsn_env: the environment variable %s is not set or empty", l.DSNEnv)
		}
		return v, nil
	case l.DSNFile != "":
		data, err := os.ReadFile(l.DSNFile)
		if err != nil {
			return "", fmt.Errorf("ledger.dsn_file: %s", fileError(l.DSNFile, err))
		}
		first, _, _ := strings.Cut(string(data), "\n")
		if first = strings.TrimSpace(first); first == "" {
			return "", fmt.Errorf("ledger.dsn_file: %s holds no DSN on its first line", l.DSNFile)
		}
		return first, nil
	case l.DSN != "":
		return l.DSN, nil
	}
	return "", fmt.Errorf("ledger: no DSN: set dsn_env, dsn_file or dsn")
}

func (c *Config) dsnPath() string {
	switch {
	case c.Ledger.DSNEnv != "":
		return "ledger.dsn_env"
	case c.Ledger.DSNFile != "":
		return "ledger.dsn_file"
	}
	return "ledger.dsn"
}

func (c *Config) dsnProblem(err error) Problem {
	path, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok {
		path, msg = "ledger", err.Error()
	}
	return c.problem(path, "%s", msg)
}

// checkDSN words what is wrong with a DSN without repeating it.
func checkDSN(driver, dsn string) string {
	switch driver {
	case "postgres":
		if strings.Contains(dsn, "://") {
			u, err := url.Parse(dsn)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				return "the DSN is not a PostgreSQL URL (postgres://user@host:5432/db?sslmode=verify-full) or key=value list"
			}
			return ""
		}
		for _, kv := range dsnFields(dsn) {
			if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
				return "the DSN is not a PostgreSQL URL (postgres://user@host:5432/db?sslmode=verify-full) or key=value list (host=... dbname=...)"
			}
		}
	case "sqlite":
		path := strings.TrimPrefix(dsn, "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			return "the directory of the SQLite file " + path + " does not exist"
		}
	}
	return ""
}

// dsnFields splits a key=value DSN on spaces outside single quotes.
func dsnFields(dsn string) []string {
	var out []string
	var b strings.Builder
	quoted, escaped := false, false
	for _, r := range dsn {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '\'':
			quoted = !quoted
		case r == ' ' && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
			continue
		}
		b.WriteRune(r)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// hasPassword: a URL with a password (in the user info or the query) or a
// key=value DSN with a password key.
func hasPassword(dsn string) bool {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return strings.Contains(strings.ToLower(dsn), "password") || strings.Contains(dsn, "@")
		}
		if _, ok := u.User.Password(); ok {
			return true
		}
		for k := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				return true
			}
		}
		return false
	}
	for _, kv := range dsnFields(dsn) {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.Contains(strings.ToLower(strings.TrimSpace(k)), "password") {
			return true
		}
	}
	return false
}
