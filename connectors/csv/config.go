package csv

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Type is the connector type name in the worker config.
const Type = "csv"

// Register adds the csv type to a connector registry.
func Register(r *connectors.Registry) {
	r.Register(Type, func() connectors.Config { return &Config{} })
}

// Config of a csv instance; the struct is the YAML schema. An example:
//
//	type: csv
//	dir: /var/lib/tilgang/export/visma-flyt      # must exist; the file, its state and lock live here
//	file: brukere.csv                            # default: <instance name>.csv
//	rows: account                                # account: one row per account, roles joined in a "roles" column;
//	                                             # membership: one row per account and role (an account
//	                                             # without roles has one row with an empty role)
//	delimiter: ";"                               # one character; default ","
//	header: true                                 # first line names the columns (default true)
//	crlf: false                                  # \r\n line ends for Windows importers
//	role_separator: "|"                          # between roles in a "roles" column; default "|"
//	columns:                                     # in file order; field is one of Fields
//	  - { header: Ansattnummer, field: id }
//	  - { header: Fornavn, field: given_name }
//	  - { header: Etternavn, field: family_name }
//	  - { header: Epost, field: email }
//	  - { header: Aktiv, field: enabled }        # "true"/"false" (status: "active"/"disabled")
//	  - { header: Roller, field: roles }
//	neutralise_formulas: false                   # true: a quote before a cell a spreadsheet would run as a formula
//	command: ["/usr/local/bin/flyt-import", "--file", "{file}"]   # optional; run after each write, no shell
//	command_timeout: 2m                          # default 1m; the output is logged
//
// The file always holds the whole desired state, sorted by person id and
// role, so writing the same state twice gives the same bytes, and no line is
// ever repeated. It is replaced atomically (temporary file, fsync, rename,
// directory fsync): an importer reading it sees the old file or the new one,
// never half of one.
//
// neutralise_formulas puts a single quote (') before every cell that
// begins with =, +, -, @, a tab or a carriage return and is not a plain
// number (package csvsafe has the rule), so that a name such as
// =HYPERLINK(...) is shown as text when someone opens the file in a
// spreadsheet program instead of being run. It is off by default because
// the file is the input of a fagsystem's importer, which reads it
// literally: the quote would become part of the value, changing a name or
// breaking a role whose catalogue value begins with @ or -. Turn it on when
// people open the file in a spreadsheet program, or when the importer is
// one.
type Config struct {
	Dir            string        `yaml:"dir"`
	File           string        `yaml:"file"`
	Rows           string        `yaml:"rows"`
	Delimiter      string        `yaml:"delimiter"`
	Header         *bool         `yaml:"header"`
	CRLF           bool          `yaml:"crlf"`
	RoleSeparator  string        `yaml:"role_separator"`
	Columns        []Column      `yaml:"columns"`
	Command        []string      `yaml:"command"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// NeutraliseFormulas: see the type's doc; default false.
	NeutraliseFormulas bool `yaml:"neutralise_formulas"`
}

// Column is one column of the file.
type Column struct {
	Header string `yaml:"header"`
	Field  string `yaml:"field"`
}

// Fields are the values a column may hold.
var Fields = []string{"id", "given_name", "family_name", "display_name", "email", "municipality",
	"enabled", "status", "roles", "role"}

var _ connectors.Defaulter = (*Config)(nil)

// WithDefaults is the config Open runs with (connectors.Defaulter).
func (c *Config) WithDefaults(name string) connectors.Config {
	d := c.withDefaults(name)
	return &d
}

func (c *Config) withDefaults(name string) Config {
	d := *c
	if d.File == "" {
		d.File = name + ".csv"
	}
	if d.Rows == "" {
		d.Rows = "account"
	}
	if d.Delimiter == "" {
		d.Delimiter = ","
	}
	if d.Header == nil {
		t := true
		d.Header = &t
	}
	if d.RoleSeparator == "" {
		d.RoleSeparator = "|"
	}
	if len(d.Columns) == 0 {
		d.Columns = []Column{{"id", "id"}, {"given_name", "given_name"}, {"family_name", "family_name"},
			{"email", "email"}, {"enabled", "enabled"}}
		if d.Rows == "membership" {
			d.Columns = append(d.Columns, Column{"role", "role"})
		} else {
			d.Columns = append(d.Columns, Column{"roles", "roles"})
		}
	}
	if d.CommandTimeout == 0 {
		d.CommandTimeout = time.Minute
	}
	return d
}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error { return c.validate("csv") }

func (c *Config) validate(name string) error {
	d := c.withDefaults(name)
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.Dir == "" {
		add("dir is empty (the directory the file is written to)")
	} else if st, err := os.Stat(d.Dir); err != nil {
		add("dir: %v", err)
	} else if !st.IsDir() {
		add("dir %s is not a directory", d.Dir)
	}
	if d.File != filepath.Base(d.File) || strings.HasPrefix(d.File, ".") {
		add("file %q must be a plain file name inside dir", d.File)
	}
	if d.Rows != "account" && d.Rows != "membership" {
		add("rows %q must be account or membership", d.Rows)
	}
	r, n := utf8.DecodeRuneInString(d.Delimiter)
	if n != len(d.Delimiter) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		add("delimiter %q must be one character other than a quote or a line end", d.Delimiter)
	}
	if strings.ContainsAny(d.RoleSeparator, "\r\n") {
		add("role_separator must not hold a line end")
	}
	hasID := false
	for i, col := range d.Columns {
		known := false
		for _, f := range Fields {
			known = known || f == col.Field
		}
		if !known {
			add("columns[%d].field %q is not one of %s", i, col.Field, strings.Join(Fields, ", "))
		}
		if col.Field == "id" {
			hasID = true
		}
		if col.Field == "role" && d.Rows != "membership" {
			add("columns[%d]: field role needs rows: membership (with rows: account use roles)", i)
		}
		if *d.Header && col.Header == "" {
			add("columns[%d].header is empty", i)
		}
	}
	if !hasID {
		add("columns: no column holds the id; the importer could not tell accounts apart")
	}
	if len(d.Command) > 0 {
		if !filepath.IsAbs(d.Command[0]) {
			add("command[0] %q must be an absolute path (it is run without a shell)", d.Command[0])
		} else if st, err := os.Stat(d.Command[0]); err != nil {
			add("command: %v", err)
		} else if st.Mode()&0o111 == 0 {
			add("command %s is not executable", d.Command[0])
		}
	}
	if d.CommandTimeout < 0 {
		add("command_timeout must be positive")
	}
	if len(errs) > 0 {
		return tilgang.Errorf(tilgang.Invalid, "csv config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Open validates the config, takes over the state left in dir and returns
// the instance.
func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Open(name, *c, logger)
}
