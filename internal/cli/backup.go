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
	path, err := sqlitePath(*data, *cfgPath, "back it up with pg_dump (or pg_basebackup), as the README's production section says; tilgang backup copies SQLite ledgers")
	if err != nil {
		return err
	}
	if err := sqlledger.Backup(e.ctx, path, *to); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "backed up %s to %s\n", path, *to)
	return nil
}

// sqlitePath is the SQLite ledger file of tilgang dev's data directory
// (DIR/ledger.db) or of a worker config (ledger.dsn, wherever it lies);
// pg says what to do instead when the config's ledger is PostgreSQL.
func sqlitePath(data, cfgPath, pg string) (string, error) {
	if cfgPath == "" {
		return filepath.Join(data, "ledger.db"), nil
	}
	cfg, err := config.Load(cfgPath, config.DefaultRegistry())
	if err != nil {
		return "", &exitError{code: exitFailed, msg: fmt.Sprintf("%s is not a valid config:\n%v", cfgPath, err)}
	}
	if cfg.Ledger.Driver == "postgres" {
		return "", &exitError{code: exitFailed, msg: fmt.Sprintf("%s: the ledger is PostgreSQL: %s", cfgPath, pg)}
	}
	path, err := cfg.DSN()
	if err != nil {
		return "", &exitError{code: exitFailed, msg: fmt.Sprintf("%s: ledger: %v", cfgPath, err)}
	}
	return path, nil
}

// runRestore replaces a SQLite ledger with a backup: the one in --data DIR
// or the one a worker config names, refused while a worker uses it.
func runRestore(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	from := fs.String("from", "", "the backup file (from tilgang backup)")
	data := fs.String("data", "", "the data directory whose ledger.db is replaced")
	cfgPath := fs.String("config", "", "a worker config whose sqlite ledger (ledger.dsn) is replaced")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *from == "" {
		return usagef(cmd, "--from FILE is required")
	}
	if (*data == "") == (*cfgPath == "") {
		return usagef(cmd, "give either --data DIR or --config FILE")
	}
	path, err := sqlitePath(*data, *cfgPath, "restore it with pg_restore, as the README's production section says; tilgang restore replaces SQLite ledgers")
	if err != nil {
		return err
	}
	var mark sqlledger.RestoreMark
	if *cfgPath != "" {
		mark, err = sqlledger.RestoreFile(e.ctx, *from, path)
	} else {
		mark, err = sqlledger.Restore(e.ctx, *from, *data)
	}
	if errors.Is(err, sqlledger.ErrInUse) {
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "restored %s into %s at chain row %d; the next start chains ledger.restored and applies again what came after it\n",
		*from, path, mark.Seq)
	return nil
}
