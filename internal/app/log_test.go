package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// repeatedKey returns the first key that appears twice in one object of
// the JSON value read from dec, with its path; "" when none does.
// encoding/json keeps the last of two equal keys without a word, so the
// tokens are walked.
func repeatedKey(dec *json.Decoder, path string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			key := k.(string)
			if seen[key] {
				return path + key, nil
			}
			seen[key] = true
			if dup, err := repeatedKey(dec, path+key+"."); dup != "" || err != nil {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := repeatedKey(dec, fmt.Sprintf("%s%d.", path, i)); dup != "" || err != nil {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	}
	return "", nil
}

func TestRepeatedKey(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"none", `{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, ""},
		{"top level", `{"connector":"ad","msg":"x","connector":"ad"}`, "connector"},
		{"nested", `{"a":{"b":1,"b":2}}`, "a.b"},
		{"in a list", `{"a":[{"b":1},{"b":1,"b":2}]}`, "a.1.b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dup, err := repeatedKey(json.NewDecoder(strings.NewReader(tc.line)), "")
			require.NoError(t, err)
			require.Equal(t, tc.want, dup)
		})
	}
}

// TestJSONLogHasNoRepeatedKey runs dev with a JSON log through grants on a
// noop and a csv connector, whose connector logs too, and checks that no
// line names an attribute twice (connector=csv connector=csv was one).
func TestJSONLogHasNoRepeatedKey(t *testing.T) {
	var buf testenv.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cat := maps.Clone(testenv.Catalogue)
	cat["lonn.yaml"] = `system: lonn
name: Lønn
owner: Økonomi
administrators: [1547-20001]
connectors: [csv]
roles:
  - id: bruker
    entitlements: {csv: [LONN-BRUKER]}
    requestable_by: [manager]
    approval: []
`
	e := testenv.StartLogged(t, "", testenv.WriteCatalogue(t, cat), log)
	e.Joiner(testenv.People()...)
	for _, system := range []string{"kasse", "lonn"} {
		id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant(system, "bruker"))
		gid := e.Wait("request.accepted", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
		e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))
	}
	e.Stop()

	lines, fromCSV := 0, 0
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		lines++
		dec := json.NewDecoder(bytes.NewReader(line))
		dup, err := repeatedKey(dec, "")
		require.NoError(t, err, "%s", line)
		require.Empty(t, dup, "a repeated key in %s", line)
		_, err = dec.Token()
		require.ErrorIs(t, err, io.EOF, "one object a line: %s", line)
		if bytes.Contains(line, []byte(`"connector":"csv"`)) {
			fromCSV++
		}
	}
	require.NoError(t, sc.Err())
	require.Positive(t, lines)
	require.Positive(t, fromCSV, "the csv connector logged its writes")
}
