package hrsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ror-ikt/tilgang"
)

// JSONType is the type name of the HR record array source.
const JSONType = "json"

// JSONConfig reads a file holding a JSON array of HR records (DESIGN.md
// "The HR person record"). It has no settings:
//
//	type: json
type JSONConfig struct{}

// Validate reports every problem of the config at once (there are none).
func (c *JSONConfig) Validate() error { return nil }

// Open returns the source.
func (c *JSONConfig) Open() (Source, error) { return jsonSource{}, nil }

type jsonSource struct{}

// Read decodes the array strictly: a field the record does not carry (a
// fødselsnummer among them) is an error of the read naming the field and
// the record's index, never copied anywhere; a record whose values do not
// decode (a date that is no date) is a Rejection.
func (jsonSource) Read(ctx context.Context, in Input) (Snapshot, error) {
	if in.File == nil {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "json: no file to read")
	}
	var raw []json.RawMessage
	dec := json.NewDecoder(in.File)
	if err := dec.Decode(&raw); err != nil {
		return Snapshot{}, tilgang.Wrap(tilgang.Invalid, err, "json: read the record array")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "json: read the record array: data after the array")
	}
	if raw == nil {
		return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "json: the file holds null, not an array of records")
	}
	var c collector
	for i, r := range raw {
		if field, ok := unknownField(r); ok {
			return Snapshot{}, tilgang.Errorf(tilgang.Invalid, "json: record %d: unknown field %s", i, field)
		}
		var p tilgang.Person
		d := json.NewDecoder(bytes.NewReader(r))
		d.DisallowUnknownFields()
		if err := d.Decode(&p); err != nil {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r, &id)
			c.reject(id.ID, "record %d: %s", i, decodeReason(err))
			continue
		}
		if p.Employments == nil {
			p.Employments = []tilgang.Employment{}
		}
		c.people = append(c.people, p)
	}
	return c.finish(), nil
}

// decodeReason is a decode error without the value that failed: a
// misplaced value could be anything.
func decodeReason(err error) string {
	var te *json.UnmarshalTypeError
	if errorsAs(err, &te) {
		return fmt.Sprintf("field %s must be %s, not %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

var personFields = fieldSet(`{"id":"","given_name":"","family_name":"","email":"","municipality":"","employments":[]}`)
var employmentFields = fieldSet(`{"id":"","primary":false,"percent":0,"org_unit":"","position":"","manager":"","start":"","end":""}`)

func fieldSet(s string) map[string]bool {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// unknownField names the first field of a record (or of one of its
// employments) that the record does not carry, with its path.
func unknownField(r json.RawMessage) (string, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(r, &top) != nil {
		return "", false // not an object: the typed decode says so
	}
	for _, k := range sortedKeys(top) {
		if !personFields[k] {
			return quote(k), true
		}
	}
	var es []map[string]json.RawMessage
	if json.Unmarshal(top["employments"], &es) != nil {
		return "", false
	}
	for j, e := range es {
		for _, k := range sortedKeys(e) {
			if !employmentFields[k] {
				return fmt.Sprintf("employments[%d].%s", j, quote(k)), true
			}
		}
	}
	return "", false
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}
