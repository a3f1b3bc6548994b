package cli

import (
	"fmt"

	"github.com/ror-ikt/tilgang/internal/catalog"
)

// runCatalogImport is `tilgang catalog import FILE.csv|FILE.xlsx [--dir
// DIR]`: policy file skeletons from a systemoversikt spreadsheet (see
// package catalog), never overwriting a file.
func runCatalogImport(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	dir := fs.String("dir", "policies", "write the skeletons into `DIR`")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	rows, err := catalog.Read(pos[0])
	if err != nil {
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	res, err := catalog.Import(rows, *dir)
	if e.g.output == outputJSON {
		type item struct {
			System  string `json:"system"`
			File    string `json:"file"`
			Written bool   `json:"written"`
			Why     string `json:"why,omitempty"`
		}
		out := []item{}
		for _, r := range res {
			out = append(out, item{r.Row.System, r.File, r.Written, r.Why})
		}
		if werr := writeJSON(e.Stdout, out); werr != nil {
			return werr
		}
	} else {
		for _, r := range res {
			if r.Written {
				fmt.Fprintf(e.Stdout, "wrote %s\n", r.File)
			} else {
				fmt.Fprintf(e.Stdout, "skipped %s (row %d): %s\n", r.File, r.Row.Line, r.Why)
			}
		}
	}
	if err != nil {
		return err
	}
	written := 0
	for _, r := range res {
		if r.Written {
			written++
		}
	}
	fmt.Fprintf(e.Stderr, "%d of %s written; fill in the roles, then run `tilgang policy check %s`\n", written, plural(len(rows), "system"), *dir)
	return nil
}
