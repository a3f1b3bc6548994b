package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
)

// runBackup copies a SQLite ledger, also while the worker runs: the one in
// --data DIR (tilgang dev's DIR/ledger.db) or the one a worker config names.
// A PostgreSQL ledger is backed up with PostgreSQL's own tools.
func runBackup(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	data := fs.String("data", "", "the data directory of tilgang dev (its DIR/ledger.db)")
	cfgPath := fs.String("config", "", "a worker config whose ledger driver is sqlite")
	to := fs.String("to", "", "the backup file to write (mode 0600)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if (*data == "") == (*cfgPath == "") {
		return usagef(cmd, "give either --data DIR or --config FILE")
	}
	if *to == "" {
		return usagef(cmd, "--to FILE is required")
	}
	path := filepath.Join(*data, "ledger.db")
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, config.DefaultRegistry())
		if err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("%s is not a valid config:\n%v", *cfgPath, err)}
		}
		if cfg.Ledger.Driver == "postgres" {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: the ledger is PostgreSQL: back it up with pg_dump (or pg_basebackup), "+
				"as the README's production section says; tilgang backup copies SQLite ledgers", *cfgPath)}
		}
		if path, err = cfg.DSN(); err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: ledger: %v", *cfgPath, err)}
		}
	}
	if err := sqlledger.Backup(e.ctx, path, *to); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "backed up %s to %s\n", path, *to)
	return nil
}

// runRestore replaces the ledger in --data DIR with a backup, refused
// while a worker uses DIR.
func runRestore(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	from := fs.String("from", "", "the backup file (from tilgang backup)")
	data := fs.String("data", "", "the data directory whose ledger.db is replaced")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *from == "" || *data == "" {
		return usagef(cmd, "--from FILE and --data DIR are required")
	}
	mark, err := sqlledger.Restore(e.ctx, *from, *data)
	if errors.Is(err, sqlledger.ErrInUse) {
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "restored %s into %s at chain row %d; the next start chains ledger.restored and applies again what came after it\n",
		*from, filepath.Join(*data, "ledger.db"), mark.Seq)
	return nil
}
