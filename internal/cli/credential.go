package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// curveSeedExt names a principal's curve seed file beside its user seed
// (<principal>.nk): <principal>.xk, as principals.DevCurveFile is for dev.
const curveSeedExt = ".xk"

// runCredentialOpen finds the initial credentials sealed to the asker on
// the events stream (credential.issued) and opens them with the asker's
// curve seed. Nothing is sent anywhere: the password is printed here only.
func runCredentialOpen(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	person := fs.String("person", "", "only the credentials of the person `ID`")
	curveFile := fs.String("curve-key", "", "the curve seed `FILE` (SX...) credentials are sealed to (default: <principal>.xk beside the --key file, for the principal asking)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	id, err := e.identity(cmd, false)
	if err != nil {
		return err
	}
	// Credentials are sealed to the principal asking (--as, else the
	// key's owner), so it is that principal's curve seed that opens them:
	// <principal>.xk beside the key file, as dev.xk is beside dev.nk.
	me := id.actor
	defaultCurve := *curveFile == ""
	if defaultCurve {
		*curveFile = filepath.Join(filepath.Dir(id.file), me+curveSeedExt)
	}
	if *person != "" && !tilgang.ValidToken(*person) {
		return usagef(cmd, "--person %q is not a person id", *person)
	}
	kp, err := principals.LoadCurveSeed(*curveFile)
	if err != nil {
		if defaultCurve && tilgang.KindOf(err) == tilgang.NotFound {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("credential open: no curve seed for %s: %s does not exist. "+
				"Credentials sealed to %s open with the curve seed (SX...) whose public key (X...) is %s's curve_key in the principals file: "+
				"put that seed in %s, or pass --curve-key FILE (`nk -gen curve -pubout` from github.com/nats-io/nkeys makes a pair)",
				me, *curveFile, me, me, *curveFile)}
		}
		return &exitError{code: exitFailed, msg: fmt.Sprintf("credential open: %v", err)}
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	subject := "tilgang.event." + tilgang.EvCredentialIssued + ".>"
	if *person != "" {
		subject = "tilgang.event." + tilgang.EvCredentialIssued + "." + *person
	}
	cons, err := js.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("credential open: %v", err)}
	}
	type found struct{ Person, Username, Password, At string }
	var out []found
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("credential open: %v", err)}
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev struct {
				Subject string         `json:"subject"`
				Time    string         `json:"time"`
				Data    map[string]any `json:"data"`
			}
			if json.Unmarshal(m.Data(), &ev) != nil || ev.Data["recipient"] != me {
				continue
			}
			sealed, _ := ev.Data["sealed"].(string)
			sender, _ := ev.Data["sender"].(string)
			plain, err := principals.Open(sealed, sender, kp)
			if err != nil {
				fmt.Fprintf(e.Stderr, "tilgang credential open: a credential for %s is sealed to %s but %s does not open it: %v\n", ev.Subject, me, *curveFile, err)
				continue
			}
			user, _ := ev.Data["username"].(string)
			out = append(out, found{Person: ev.Subject, Username: user, Password: string(plain), At: ev.Time})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("credential open: %v", err)}
		}
		if n == 0 {
			break
		}
	}
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintf(e.Stderr, "no initial credentials are sealed to %s\n", me)
		return nil
	}
	fmt.Fprintln(e.Stdout, "PERSON\tUSERNAME\tINITIAL PASSWORD\tISSUED")
	for _, f := range out {
		fmt.Fprintf(e.Stdout, "%s\t%s\t%s\t%s\n", f.Person, f.Username, f.Password, strings.TrimSpace(f.At))
	}
	fmt.Fprintln(e.Stderr, "hand each password to its person in person; they must change it at first logon")
	return nil
}
