package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"

	"github.com/ror-ikt/tilgang/internal/csvsafe"
)

// listOut prints a long list a page at a time, as it comes from the API:
// one JSON list written as it grows, CSV with one header, or (by the
// caller) a table aligned within a page. n counts the items printed.
type listOut struct {
	w      io.Writer
	format string
	n      int
	csv    *csv.Writer
}

// start writes the CSV header.
func (o *listOut) start(header []string) error {
	if o.format == "csv" {
		o.csv = csv.NewWriter(o.w)
		return o.csv.Write(header)
	}
	return nil
}

// jsonItems appends items to the JSON list.
func jsonItems[T any](o *listOut, items []T) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("  ", "  ")
	enc.SetEscapeHTML(false)
	for i := range items {
		sep := ",\n  "
		if o.n == 0 {
			sep = "[\n  "
		}
		b.WriteString(sep)
		if err := enc.Encode(&items[i]); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		o.n++
	}
	_, err := o.w.Write(b.Bytes())
	return err
}

// csvRows writes n rows, row(i) each, with formula cells quoted: a person
// named =HYPERLINK(...) stays text in a spreadsheet.
func (o *listOut) csvRows(n int, row func(i int) []string) error {
	for i := range n {
		if err := o.csv.Write(csvsafe.Row(row(i))); err != nil {
			return err
		}
		o.n++
	}
	o.csv.Flush()
	return o.csv.Error()
}

// end closes the JSON list; an error before it leaves the list open, so
// that a truncated output does not parse as a whole one.
func (o *listOut) end() error {
	if o.format != "json" {
		return nil
	}
	end := "\n]\n"
	if o.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(o.w, end)
	return err
}
