package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang/internal/principals"
)

// `tilgang principal add|rotate|revoke`: an operator's keys for production
// (DESIGN.md "Operations over years"). The principals file holds public
// keys only; the seeds go to the files --seed names, mode 0600, never
// replacing one. The file is changed only when the result loads, written
// aside and renamed into place; the worker reads it again on SIGHUP.

const defaultGrace = 7 * 24 * time.Hour

// principalFile reads the principals file; one that does not exist yet
// starts empty, so the first add makes it.
func principalFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []byte("principals:\n"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("principal: read %s: %w", path, err)
	}
	return data, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// curveSeedPath is the curve seed beside a user seed: x.nk -> x.xk.
func curveSeedPath(seed string) string {
	return strings.TrimSuffix(seed, ".nk") + ".xk"
}

// refuseExisting fails when any of paths exists: seeds are never replaced.
func refuseExisting(cmd *command, paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return usagef(cmd, "%s already exists: a seed file is never replaced; move it away or name another file", p)
		}
	}
	return nil
}

func runPrincipalAdd(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	var id, kind, name, caps, onBehalf, file, seed string
	var curve bool
	fs.StringVar(&id, "id", "", "the principal's id: a person id or a service principal name")
	fs.StringVar(&kind, "kind", "", "person or service")
	fs.StringVar(&name, "name", "", "a name for humans")
	fs.StringVar(&caps, "capabilities", "", "comma-separated: hr, on_behalf, operator, auditor (service principals only)")
	fs.StringVar(&onBehalf, "on-behalf-of", "", "comma-separated service principals an on_behalf principal may also act for")
	fs.BoolVar(&curve, "curve", false, "also make a curve key, that initial passwords are sealed to (seed beside --seed, .xk)")
	fs.StringVar(&file, "principals", "", "the principals file (made when missing)")
	fs.StringVar(&seed, "seed", "", "the new file for the seed (mode 0600), e.g. keys/<id>.nk")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	for flag, v := range map[string]string{"--id": id, "--kind": kind, "--principals": file, "--seed": seed} {
		if v == "" {
			return usagef(cmd, "%s is required", flag)
		}
	}
	curveSeed := ""
	if curve {
		curveSeed = curveSeedPath(seed)
	}
	if err := refuseExisting(cmd, seed, curveSeed); err != nil {
		return err
	}
	data, err := principalFile(file)
	if err != nil {
		return err
	}
	// The keys are made first in memory, the file checked with them, and
	// only then are the seeds written and the file replaced.
	user, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("principal add: make a key: %w", err)
	}
	defer user.Wipe()
	p := principals.Principal{ID: id, Kind: kind, Name: name, Capabilities: splitList(caps), OnBehalfOf: splitList(onBehalf)}
	if p.Key, err = user.PublicKey(); err != nil {
		return fmt.Errorf("principal add: make a key: %w", err)
	}
	var curveKP nkeys.KeyPair
	if curve {
		if curveKP, err = nkeys.CreateCurveKeys(); err != nil {
			return fmt.Errorf("principal add: make a curve key: %w", err)
		}
		defer curveKP.Wipe()
		if p.CurveKey, err = curveKP.PublicKey(); err != nil {
			return fmt.Errorf("principal add: make a curve key: %w", err)
		}
	}
	out, err := principals.Add(file, data, p)
	if err != nil {
		return err
	}
	if err := principals.WriteSeed(seed, user); err != nil {
		return err
	}
	if curve {
		if err := principals.WriteSeed(curveSeed, curveKP); err != nil {
			os.Remove(seed)
			return err
		}
	}
	if err := principals.WriteFile(file, out); err != nil {
		os.Remove(seed)
		if curve {
			os.Remove(curveSeed)
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "added %s (%s) to %s\nkey       %s  seed in %s\n", id, kind, file, p.Key, seed)
	if curve {
		fmt.Fprintf(e.Stdout, "curve_key %s  seed in %s\n", p.CurveKey, curveSeed)
	}
	fmt.Fprintf(e.Stdout, "send SIGHUP to the workers (or restart them) to load it\n")
	return nil
}

func runPrincipalRotate(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	var id, file, seed string
	grace := defaultGrace
	fs.StringVar(&id, "id", "", "the principal whose key is replaced")
	fs.DurationVar(&grace, "grace", grace, "how long the old key keeps verifying messages and API calls")
	fs.StringVar(&file, "principals", "", "the principals file")
	fs.StringVar(&seed, "seed", "", "the new file for the new seed (mode 0600)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	for flag, v := range map[string]string{"--id": id, "--principals": file, "--seed": seed} {
		if v == "" {
			return usagef(cmd, "%s is required", flag)
		}
	}
	if grace < 0 {
		return usagef(cmd, "--grace %s is negative: 0 ends the old key at once", grace)
	}
	if err := refuseExisting(cmd, seed); err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("principal rotate: read %s: %w", file, err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("principal rotate: make a key: %w", err)
	}
	defer user.Wipe()
	pub, err := user.PublicKey()
	if err != nil {
		return fmt.Errorf("principal rotate: make a key: %w", err)
	}
	until := e.Now().Add(grace).UTC().Truncate(time.Second)
	out, old, err := principals.Rotate(file, data, id, pub, until)
	if err != nil {
		return err
	}
	if err := principals.WriteSeed(seed, user); err != nil {
		return err
	}
	if err := principals.WriteFile(file, out); err != nil {
		os.Remove(seed)
		return err
	}
	fmt.Fprintf(e.Stdout, "rotated %s in %s\nkey %s  seed in %s\n", id, file, pub, seed)
	if old != "" {
		fmt.Fprintf(e.Stdout, "retired %s: verifies messages until %s, anchors for ever\n", old, until.Format(time.RFC3339))
	}
	fmt.Fprintf(e.Stdout, "send SIGHUP to the workers (or restart them) to load it\n")
	return nil
}

func runPrincipalRevoke(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	var id, file string
	fs.StringVar(&id, "id", "", "the principal whose keys end")
	fs.StringVar(&file, "principals", "", "the principals file")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	for flag, v := range map[string]string{"--id": id, "--principals": file} {
		if v == "" {
			return usagef(cmd, "%s is required", flag)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("principal revoke: read %s: %w", file, err)
	}
	at := e.Now().UTC().Truncate(time.Second)
	out, err := principals.Revoke(file, data, id, at)
	if err != nil {
		return err
	}
	if err := principals.WriteFile(file, out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "revoked %s in %s at %s: its keys verify nothing once the workers load the file (SIGHUP)\n", id, file, at.Format(time.RFC3339))
	return nil
}

var (
	principalAdd = &command{name: "principal add", group: groupRun, run: runPrincipalAdd,
		usage:   "principal add --id ID --kind person|service [--name TEXT] [--capabilities LIST] [--on-behalf-of LIST] [--curve] --principals FILE --seed FILE",
		summary: "make a principal's key: a new seed in --seed (mode 0600; --curve: a curve seed beside it, .xk), its public key added to the principals file"}
	principalRotate = &command{name: "principal rotate", group: groupRun, run: runPrincipalRotate,
		usage:   "principal rotate --id ID [--grace DURATION] --principals FILE --seed FILE",
		summary: "replace a principal's key with a new seed in --seed; the old key verifies messages for --grace (default 168h), anchors for ever"}
	principalRevoke = &command{name: "principal revoke", group: groupRun, run: runPrincipalRevoke,
		usage:   "principal revoke --id ID --principals FILE",
		summary: "end a principal's keys at once (current and retired): nothing they signed verifies any more"}
)
