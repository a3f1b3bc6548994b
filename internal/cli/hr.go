package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

var hrTypes = map[string]string{
	"hr joiner": tilgang.TypeHRJoiner,
	"hr mover":  tilgang.TypeHRMover,
	"hr leaver": tilgang.TypeHRLeaver,
}

func runHREvent(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	file := fs.String("file", "", "JSON `FILE` with {\"version\": n, \"person\": {...}} or a bare person record (- for stdin)")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` (e.g. 10s) for the worker to record the event and print its status (0: do not wait)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return usagef(cmd, "--file is required")
	}
	data, err := e.readFile(*file)
	if err != nil {
		return err
	}
	base := e.Now().UnixMilli()
	rec, err := parseHRRecord(data, 0, base)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, locate(err, data))
	}
	if err := rec.validate(); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	id, err := e.identity(cmd, true)
	if err != nil {
		return err
	}
	m, err := e.build(id, hrTypes[cmd.name], rec.Person.ID, rec.HR)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	return e.send(nc, id, m, *wait)
}

// readFile reads a named file, or stdin for "-".
func (e *env) readFile(name string) ([]byte, error) {
	if name == "-" {
		if e.Stdin == nil {
			return nil, errors.New("cannot read stdin")
		}
		b, err := io.ReadAll(e.Stdin)
		if err != nil {
			return nil, fmt.Errorf("cannot read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, errors.Unwrap(err))
	}
	return b, nil
}

// hrRecord is one person record to send, with where it came from.
type hrRecord struct {
	envelope.HR
	index  int   // 0-based position in an import; 0 for a single file
	offset int64 // byte offset of the record in its file
}

func (r *hrRecord) validate() error {
	if err := r.Person.Validate(); err != nil {
		return err
	}
	if r.Version <= 0 {
		return fmt.Errorf("version %d must be greater than 0", r.Version)
	}
	return nil
}

// parseHRRecord reads {"version": n, "person": {...}} or a bare person
// record (which may carry "version" among its fields). Without a version the
// record gets defaultVersion. offset is where data starts in its file, for
// messages.
func parseHRRecord(data []byte, offset int64, defaultVersion int64) (*hrRecord, error) {
	if err := syntaxError(data); err != nil {
		return nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, jsonError(data, offset, err)
	}
	if keys == nil {
		return nil, &posError{off: offset, msg: "a record must be a JSON object, not null"}
	}
	rec := &hrRecord{offset: offset}
	var version *int64
	if _, wrapped := keys["person"]; wrapped {
		var w struct {
			Version *int64          `json:"version"`
			Person  *tilgang.Person `json:"person"`
		}
		if err := strictJSON(data, &w); err != nil {
			return nil, jsonError(data, offset, err)
		}
		if w.Person == nil {
			return nil, &posError{off: offset, msg: "person is null"}
		}
		version, rec.Person = w.Version, *w.Person
	} else {
		var b struct {
			Version *int64 `json:"version"`
			tilgang.Person
		}
		if err := strictJSON(data, &b); err != nil {
			return nil, jsonError(data, offset, err)
		}
		version, rec.Person = b.Version, b.Person
	}
	rec.Version = defaultVersion
	if version != nil {
		rec.Version = *version
	}
	return rec, nil
}

// strictJSON decodes one JSON value into v, refusing unknown fields (a
// misspelt field would otherwise vanish) and anything after the value.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &posError{off: dec.InputOffset(), msg: "more data after the JSON value"}
	}
	return nil
}

// posError is a problem at a byte offset of a file; locate adds the line
// and column once the whole file is known.
type posError struct {
	off       int64
	line, col int
	msg       string
}

func (e *posError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("at byte %d (line %d, column %d): %s", e.off, e.line, e.col, e.msg)
	}
	return fmt.Sprintf("at byte %d: %s", e.off, e.msg)
}

// locate fills in the line and column of a posError in err from file.
func locate(err error, file []byte) error {
	var pe *posError
	if errors.As(err, &pe) {
		pe.line, pe.col = lineCol(file, pe.off)
	}
	return err
}

// jsonError names where the JSON went wrong: the 0-based byte offset in the
// file (base is where data starts in it) and what was wrong. An error without
// an offset of its own (an unknown field, a bad date) is placed at base.
func jsonError(data []byte, base int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *posError
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var off int64
	switch {
	case errors.As(err, &pe):
		off, msg = pe.off, pe.msg
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included.
		off = se.Offset - 1
		if strings.Contains(se.Error(), "unexpected end") {
			off, msg = int64(len(data)), "the JSON ends too early"
		} else {
			msg = "invalid JSON: " + msg
		}
	case errors.As(err, &te):
		off = te.Offset - 1 // the last byte of the offending value
		if te.Field != "" {
			msg = fmt.Sprintf("field %s: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		off, msg = int64(len(data)), "the JSON ends too early"
	}
	return &posError{off: base + max(off, 0), msg: msg}
}

// syntaxError is the first JSON syntax error of data at its absolute
// offset (a json.Decoder's offsets are not absolute), nil when data is valid.
func syntaxError(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return nil
	}
	return jsonError(data, 0, err)
}

// lineCol is the 1-based line and column (in characters) of the 0-based
// byte offset off in data.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, utf8.RuneCount(data[start:off]) + 1
}

// parseImport reads a JSON array of person records. A record without a
// version gets base plus its index, so the records of one import have
// distinct, increasing versions and none is ignored as not newer than the
// one before it.
func parseImport(data []byte, base int64) ([]*hrRecord, error) {
	if err := syntaxError(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(data, 0, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, &posError{off: 0, msg: "the file must hold a JSON array of person records"}
	}
	var recs []*hrRecord
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(data, 0, err)
		}
		// InputOffset was before the separator and white space.
		start += int64(bytes.Index(data[start:], raw[:1]))
		rec, err := parseHRRecord(raw, start, base+int64(i))
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		rec.index = i
		recs = append(recs, rec)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(data, 0, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &posError{off: dec.InputOffset(), msg: "more data after the array"}
	}
	return recs, nil
}

// importSummary is what `hr import` reports.
type importSummary struct {
	Records    int            `json:"records"`
	Published  int            `json:"published"`
	Accepted   int            `json:"accepted"`
	Rejected   int            `json:"rejected"`
	Ignored    int            `json:"ignored"`
	Unknown    int            `json:"unknown"` // not processed before --wait ran out
	Other      map[string]int `json:"other,omitempty"`
	Rejections []rejection    `json:"rejections"`
}

type rejection struct {
	Record    int    `json:"record"` // 1-based
	Person    string `json:"person"`
	RequestID string `json:"request_id"`
	Reason    string `json:"reason"`
}

const maxProblems = 20

func runHRImport(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	wait := fs.Duration("wait", 10*time.Minute, "follow the worker processing the records for up to this `DURATION` (0: only publish)")
	pos, err := e.parse(cmd, fs, args, 1, 1)
	if err != nil {
		return err
	}
	file := pos[0]
	data, err := e.readFile(file)
	if err != nil {
		return err
	}
	recs, err := parseImport(data, e.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("%s: %w", file, locate(err, data))
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s: the array holds no records: nothing to import", file)
	}
	var problems []string
	for _, r := range recs {
		if err := r.validate(); err != nil {
			line, _ := lineCol(data, r.offset)
			problems = append(problems, fmt.Sprintf("%s:%d: record %d (%s): %v", file, line, r.index+1, r.Person.ID, err))
		}
	}
	if len(problems) > 0 {
		return e.tooManyProblems(problems, len(recs))
	}
	id, err := e.identity(cmd, true)
	if err != nil {
		return err
	}
	msgs := make([]*outMsg, len(recs))
	for i, r := range recs {
		m, err := e.build(id, tilgang.TypeHRJoiner, r.Person.ID, r.HR)
		if err != nil {
			line, _ := lineCol(data, r.offset)
			problems = append(problems, fmt.Sprintf("%s:%d: record %d (%s): %v", file, line, r.index+1, r.Person.ID, err))
			continue
		}
		msgs[i] = m
	}
	if len(problems) > 0 {
		return e.tooManyProblems(problems, len(recs))
	}

	nc, err := e.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	sum := importSummary{Records: len(recs), Rejections: []rejection{}}
	n, err := e.publishAll(nc, msgs)
	sum.Published = n
	if err != nil {
		return fmt.Errorf("published %d of %d records, then: %w", n, len(msgs), err)
	}
	var followErr error
	if *wait > 0 {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.requestID
		}
		sts, err := e.follow(e.client(nc, id), ids, *wait)
		followErr = err
		for i, st := range sts {
			switch st.Outcome {
			case "accepted":
				sum.Accepted++
			case "rejected":
				sum.Rejected++
				sum.Rejections = append(sum.Rejections, rejection{Record: i + 1, Person: msgs[i].person, RequestID: st.RequestID, Reason: st.Why})
			case "ignored":
				sum.Ignored++
			case "":
				sum.Unknown++
			default:
				if sum.Other == nil {
					sum.Other = map[string]int{}
				}
				sum.Other[st.Outcome]++
			}
		}
	}
	if err := e.printImport(sum, *wait > 0); err != nil {
		return err
	}
	switch {
	case followErr != nil:
		return fmt.Errorf("follow the import (%d of %d records not known yet): %w", sum.Unknown, sum.Records, followErr)
	case sum.Rejected > 0:
		return &exitError{code: exitFailed}
	case sum.Unknown > 0:
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%d records were not processed within %s", sum.Unknown, *wait)}
	}
	return nil
}

func (e *env) tooManyProblems(problems []string, n int) error {
	for i, p := range problems {
		if i == maxProblems {
			fmt.Fprintf(e.Stderr, "... and %d more\n", len(problems)-maxProblems)
			break
		}
		fmt.Fprintln(e.Stderr, p)
	}
	return &exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d records are invalid: nothing was published", len(problems), n)}
}

const publishBatch = 256

// publishAll publishes msgs asynchronously in batches, waiting for each
// batch's acknowledgements, and reports progress on stderr.
func (e *env) publishAll(nc *nats.Conn, msgs []*outMsg) (int, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	p := e.progress("published", len(msgs))
	done := 0
	for start := 0; start < len(msgs); start += publishBatch {
		batch := msgs[start:min(start+publishBatch, len(msgs))]
		futures := make([]jetstream.PubAckFuture, 0, len(batch))
		for _, m := range batch {
			f, err := js.PublishMsgAsync(natsMsg(m))
			if err != nil {
				return done, publishError(m.subject, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				if err := client.CheckAck(f.Msg(), ack); err != nil {
					return done, err
				}
			case err := <-f.Err():
				return done, publishError(batch[i].subject, err)
			case <-time.After(30 * time.Second):
				return done, fmt.Errorf("publish to %s: no acknowledgement in 30s", batch[i].subject)
			case <-e.ctx.Done():
				return done, e.ctx.Err()
			}
			done++
		}
		p.set(done)
	}
	p.finish(done)
	return done, nil
}

// follow polls the statuses of the requests ids until every one is
// recorded or wait has passed, reporting progress on stderr, and returns
// them in order (those not recorded with state unknown). It asks in calls
// that fit the API's limits (api.Client.StatusAll), however many ids there
// are. On an error it returns the statuses read so far with the error, so
// the caller can still report counts.
func (e *env) follow(c *api.Client, ids []string, wait time.Duration) ([]api.Status, error) {
	sts := make([]api.Status, len(ids))
	pending := make([]int, len(ids))
	for i, id := range ids {
		pending[i] = i
		sts[i] = api.Status{RequestID: id, State: api.StateUnknown}
	}
	p := e.progress("processed", len(ids))
	deadline := time.Now().Add(wait)
	for {
		ask := make([]string, len(pending))
		for j, i := range pending {
			ask[j] = ids[i]
		}
		got, err := c.StatusAll(e.ctx, ask, nil)
		var still []int
		for j, i := range pending {
			if j >= len(got) || got[j].State == api.StateUnknown {
				still = append(still, i)
				continue
			}
			sts[i] = got[j]
		}
		pending = still
		if err != nil {
			p.finish(len(ids) - len(pending))
			return sts, err
		}
		p.set(len(ids) - len(pending))
		if len(pending) == 0 || !time.Now().Before(deadline) {
			p.finish(len(ids) - len(pending))
			return sts, nil
		}
		select {
		case <-e.ctx.Done():
			return sts, e.ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progress prints "what n/N" on stderr, at most once a second and always
// at the end.
type progress struct {
	e     *env
	what  string
	total int
	last  time.Time
	shown int
}

func (e *env) progress(what string, total int) *progress {
	return &progress{e: e, what: what, total: total, shown: -1}
}

func (p *progress) set(n int) {
	if n == p.shown || time.Since(p.last) < time.Second {
		return
	}
	p.print(n)
}

func (p *progress) finish(n int) {
	if n != p.shown {
		p.print(n)
	}
}

func (p *progress) print(n int) {
	fmt.Fprintf(p.e.Stderr, "%s %d/%d\n", p.what, n, p.total)
	p.shown, p.last = n, time.Now()
}

func (e *env) printImport(s importSummary, followed bool) error {
	if e.g.output == outputJSON {
		return writeJSON(e.Stdout, s)
	}
	if !followed {
		fmt.Fprintf(e.Stdout, "published %d records\n", s.Published)
		return nil
	}
	line := fmt.Sprintf("accepted %d, rejected %d, ignored %d", s.Accepted, s.Rejected, s.Ignored)
	for k, v := range s.Other {
		line += fmt.Sprintf(", %s %d", k, v)
	}
	if s.Unknown > 0 {
		line += fmt.Sprintf(", not processed yet %d", s.Unknown)
	}
	fmt.Fprintln(e.Stdout, line)
	for _, r := range s.Rejections {
		fmt.Fprintf(e.Stdout, "rejected: record %d (%s, request %s): %s\n", r.Record, termSafe(r.Person), termSafe(r.RequestID), oneLine(r.Reason))
	}
	return nil
}
