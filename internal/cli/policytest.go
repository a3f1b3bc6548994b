package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang/internal/policy"
)

// runPolicyTest is `tilgang policy test [DIR]`: it loads the catalogue in
// DIR (default policies) and runs its policy tests (DIR/tests/*.yaml and
// DIR/*_test.yaml) locally, without a worker. A failing case prints
// file:line, the case and what differed; any failure, an invalid
// catalogue, or no tests at all exit 1.
func runPolicyTest(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	pos, err := e.parse(cmd, fs, args, 0, 1)
	if err != nil {
		return err
	}
	dir := "policies"
	if len(pos) == 1 {
		dir = pos[0]
	}
	cat, err := policy.Load(dir, nil)
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				fmt.Fprintln(e.Stdout, p.String())
			}
			return &exitError{code: exitFailed, msg: fmt.Sprintf("the catalogue in %s has %s: fix them first (tilgang policy check)", dir, plural(len(le.Problems), "problem"))}
		}
		return err
	}
	files, err := policy.TestFiles(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("no policy tests in %s (tests/*.yaml or *_test.yaml)", dir)}
	}
	rep := policy.RunTests(cat, files, time.Now())
	if e.g.output == outputJSON {
		type failure struct {
			File string `json:"file"`
			Line int    `json:"line,omitempty"`
			Case string `json:"case,omitempty"`
			Msg  string `json:"msg"`
		}
		out := struct {
			OK       bool      `json:"ok"`
			Files    int       `json:"files"`
			Cases    int       `json:"cases"`
			Failures []failure `json:"failures"`
		}{OK: len(rep.Failures) == 0, Files: rep.Files, Cases: rep.Cases, Failures: []failure{}}
		for _, f := range rep.Failures {
			out.Failures = append(out.Failures, failure{f.File, f.Line, f.Case, f.Msg})
		}
		if err := writeJSON(e.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Failures {
			fmt.Fprintln(e.Stdout, f.String())
		}
		if len(rep.Failures) == 0 {
			fmt.Fprintf(e.Stdout, "ok: %s in %s, catalogue %s\n", plural(rep.Cases, "case"), plural(rep.Files, "file"), cat.Version)
		}
	}
	if len(rep.Failures) > 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s of %s failed", plural(len(rep.Failures), "check"), plural(rep.Cases, "case"))}
	}
	return nil
}
