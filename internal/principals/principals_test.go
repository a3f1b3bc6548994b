package principals

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// testKey is a fixed user key pair, the same in every run (so that fuzz
// corpora stay meaningful).
func testKey(t testing.TB, n byte) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, bytes.Repeat([]byte{n}, 32))
	require.NoError(t, err)
	return kp
}

func pubOf(t testing.TB, kp nkeys.KeyPair) string {
	t.Helper()
	p, err := kp.PublicKey()
	require.NoError(t, err)
	return p
}

func curvePub(t testing.TB, n byte) string {
	t.Helper()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteCurve, bytes.Repeat([]byte{n}, 32))
	require.NoError(t, err)
	return pubOf(t, kp)
}

func requireKind(t *testing.T, err error, kind tilgang.Kind, want ...string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, kind, tilgang.KindOf(err), "error %q", err)
	for _, w := range want {
		require.Contains(t, err.Error(), w)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	k1, k2 := pubOf(t, testKey(t, 1)), pubOf(t, testKey(t, 2))
	seed, err := testKey(t, 1).Seed()
	require.NoError(t, err)
	curveSeed, err := nkeys.EncodeSeed(nkeys.PrefixByteCurve, bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	good := Principal{ID: "hr-feed", Kind: KindService, Key: k1, Capabilities: []string{"hr"}}

	tests := []struct {
		name string
		ps   []Principal
		want []string // "" = valid
	}{
		{"valid", []Principal{good, {ID: "1547-20001", Kind: KindPerson, Name: "Kari", Key: k2, CurveKey: curvePub(t, 3)}}, nil},
		{"empty", nil, nil},
		{"missing id", []Principal{{Kind: KindService, Key: k1}}, []string{"principals[0].id: id is missing"}},
		{"bad id", []Principal{{ID: "hr feed", Kind: KindService, Key: k1}}, []string{`id "hr feed" must be letters, digits`}},
		{"duplicate id", []Principal{good, {ID: "hr-feed", Kind: KindService, Key: k2}}, []string{`principals[1] ("hr-feed").id: id "hr-feed" is also principal 1`}},
		{"missing kind", []Principal{{ID: "x", Key: k1}}, []string{"kind is missing"}},
		{"bad kind", []Principal{{ID: "x", Kind: "robot", Key: k1}}, []string{`kind "robot" must be person or service`}},
		{"missing key", []Principal{{ID: "x", Kind: KindService}}, []string{"key is missing"}},
		{"bad key", []Principal{{ID: "x", Kind: KindService, Key: "UABC"}}, []string{`key "UABC" is not an nkeys user public key`}},
		{"curve key as key", []Principal{{ID: "x", Kind: KindService, Key: curvePub(t, 3)}}, []string{"is not an nkeys user public key"}},
		{"seed as key", []Principal{{ID: "x", Kind: KindService, Key: string(seed)}}, []string{"key is a seed, a secret"}},
		{"duplicate key", []Principal{good, {ID: "y", Kind: KindService, Key: k1}}, []string{"key is also the key of principal 1"}},
		{"bad curve key", []Principal{{ID: "x", Kind: KindService, Key: k1, CurveKey: k2}}, []string{"curve_key", "is not an nkeys curve public key"}},
		{"seed as curve key", []Principal{{ID: "x", Kind: KindService, Key: k1, CurveKey: string(curveSeed)}}, []string{"curve_key is a seed"}},
		{"unknown capability", []Principal{{ID: "x", Kind: KindService, Key: k1, Capabilities: []string{"hr", "root"}}}, []string{`capabilities[1]: capability "root" is not one of hr, on_behalf, operator, auditor`}},
		{"repeated capability", []Principal{{ID: "x", Kind: KindService, Key: k1, Capabilities: []string{"hr", "hr"}}}, []string{`capability "hr" is repeated`}},
		{"person with a service capability", []Principal{{ID: "1547-1", Kind: KindPerson, Key: k1, Capabilities: []string{"on_behalf"}}}, []string{`capabilities[0]: a person may hold only operator, auditor, hr_requester, not "on_behalf"`}},
		{"person with hr", []Principal{{ID: "1547-1", Kind: KindPerson, Key: k1, Capabilities: []string{"auditor", "hr"}}}, []string{`capabilities[1]: a person may hold only operator, auditor, hr_requester, not "hr"`}},
		{"person auditor, operator, hr_requester", []Principal{{ID: "1547-1", Kind: KindPerson, Key: k1, Capabilities: []string{"auditor", "operator", "hr_requester"}}}, nil},
		{"service hr_requester", []Principal{{ID: "x", Kind: KindService, Key: k1, Capabilities: []string{"hr_requester"}}}, []string{`"hr_requester" is a person's capability`}},
		{"control in name", []Principal{{ID: "x", Kind: KindService, Key: k1, Name: "a\nb"}}, []string{"control character"}},
		{"on_behalf_of", []Principal{good, {ID: "desk", Kind: KindService, Key: k2, Capabilities: []string{"on_behalf"}, OnBehalfOf: []string{"hr-feed"}}}, nil},
		{"on_behalf_of without on_behalf", []Principal{good, {ID: "desk", Kind: KindService, Key: k2, OnBehalfOf: []string{"hr-feed"}}},
			[]string{`principals[1] ("desk").on_behalf_of: on_behalf_of needs the on_behalf capability`}},
		{"on_behalf_of an unknown principal", []Principal{good, {ID: "desk", Kind: KindService, Key: k2, Capabilities: []string{"on_behalf"}, OnBehalfOf: []string{"hr-feed", "ops"}}},
			[]string{`principals[1] ("desk").on_behalf_of[1]: on_behalf_of names "ops", which is not a principal of this file`}},
		{"on_behalf_of itself", []Principal{{ID: "desk", Kind: KindService, Key: k2, Capabilities: []string{"on_behalf"}, OnBehalfOf: []string{"desk"}}},
			[]string{"on_behalf_of names the principal itself"}},
		{"on_behalf_of repeated", []Principal{good, {ID: "desk", Kind: KindService, Key: k2, Capabilities: []string{"on_behalf"}, OnBehalfOf: []string{"hr-feed", "hr-feed"}}},
			[]string{`on_behalf_of[1]: on_behalf_of names "hr-feed" twice`}},
		{"all at once", []Principal{{ID: "a b", Kind: "robot", Key: "x"}}, []string{"id \"a b\"", "kind \"robot\"", `key "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.ps)
			if tt.want == nil {
				require.NoError(t, err)
				require.Equal(t, len(tt.ps), s.Len())
				return
			}
			requireKind(t, err, tilgang.Invalid, tt.want...)
			require.NotContains(t, err.Error(), string(seed), "a seed must never be echoed")
			require.NotContains(t, err.Error(), string(curveSeed), "a seed must never be echoed")
		})
	}
}

func TestSetAccess(t *testing.T) {
	t.Parallel()
	caps := []string{tilgang.CapOnBehalf}
	s, err := New([]Principal{
		{ID: "portal", Kind: KindService, Key: pubOf(t, testKey(t, 1)), Capabilities: caps},
		{ID: "1547-1", Kind: KindPerson, Key: pubOf(t, testKey(t, 2))},
	})
	require.NoError(t, err)
	caps[0] = "hr" // the set keeps its own copy

	tests := []struct {
		name string
		id   string
		cap  string
		want bool
	}{
		{"service has it", "portal", tilgang.CapOnBehalf, true},
		{"service lacks it", "portal", tilgang.CapHR, false},
		{"person", "1547-1", tilgang.CapOnBehalf, false},
		{"unknown", "nobody", tilgang.CapOnBehalf, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, s.Can(tt.id, tt.cap))
		})
	}

	p, ok := s.Get("portal")
	require.True(t, ok)
	p.Capabilities[0] = "operator"
	require.True(t, s.Can("portal", tilgang.CapOnBehalf), "Get returns a copy")
	_, ok = s.Get("nobody")
	require.False(t, ok)
	require.Equal(t, []string{"1547-1", "portal"}, s.IDs())

	var none *Set
	require.False(t, none.Can("portal", tilgang.CapOnBehalf))
	require.Zero(t, none.Len())
}

func TestMerge(t *testing.T) {
	t.Parallel()
	k := func(n byte) string { return pubOf(t, testKey(t, n)) }
	a, err := New([]Principal{{ID: "a", Kind: KindService, Key: k(1), Capabilities: []string{"hr", "operator"}}})
	require.NoError(t, err)
	b, err := New([]Principal{{ID: "b", Kind: KindPerson, Key: k(2)}, {ID: "a", Kind: KindService, Key: k(1), Capabilities: []string{"operator", "hr"}}})
	require.NoError(t, err)
	conflict, err := New([]Principal{{ID: "a", Kind: KindService, Key: k(3)}})
	require.NoError(t, err)
	sameKey, err := New([]Principal{{ID: "c", Kind: KindService, Key: k(1)}})
	require.NoError(t, err)

	tests := []struct {
		name    string
		a, b    *Set
		ids     []string
		wantErr string
	}{
		{"union with identical duplicate", a, b, []string{"a", "b"}, ""},
		{"nil left", nil, b, []string{"a", "b"}, ""},
		{"nil right", a, nil, []string{"a"}, ""},
		{"conflicting id", a, conflict, nil, `"a" is defined twice, differently`},
		{"one key two ids", a, sameKey, nil, "key is also the key of principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Merge(tt.a, tt.b)
			if tt.wantErr != "" {
				requireKind(t, err, tilgang.Invalid, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.ids, m.IDs())
		})
	}
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	s, err := Load(filepath.Join("testdata", "example.yaml"))
	require.NoError(t, err)
	require.Equal(t, []string{"1547-20001", "hr-desk", "hr-feed", "portal"}, s.IDs())
	require.NoError(t, s.MayActFor("hr-desk", "hr-feed"))
	requireKind(t, s.MayActFor("portal", "hr-feed"), tilgang.Denied, "service principal")
	require.True(t, s.Can("hr-feed", tilgang.CapHR))
	require.True(t, s.Can("portal", tilgang.CapOnBehalf))
	require.False(t, s.Can("portal", tilgang.CapHR))
	kari, ok := s.Get("1547-20001")
	require.True(t, ok)
	require.Equal(t, Principal{ID: "1547-20001", Kind: KindPerson, Name: "Kari Nordmann",
		Key:      "UAQMY4OG7DJ6F3I3LTBR4SZ7H6IKO4EXPVURIPF75POVCFRHKK5T2SDN",
		CurveKey: "XCWHZ6TID7N5E25TKOOGY6L6FWO3JSOQ24QOXFEB4CUJXXN2X4JG2UAR"}, kari)
}

// TestDocExample keeps the example in the package doc the same as the
// file the test above loads.
func TestDocExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("principals.go")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(src), "// The worker config names one YAML file:\n//\n")
	require.True(t, ok)
	var doc strings.Builder
	for _, line := range strings.Split(after, "\n") {
		l, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		doc.WriteString(l + "\n")
	}
	want, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	require.NoError(t, err)
	require.Equal(t, string(want), doc.String())
}

func TestLoadProblems(t *testing.T) {
	t.Parallel()
	k1, k2 := pubOf(t, testKey(t, 1)), pubOf(t, testKey(t, 2))
	seed, err := testKey(t, 9).Seed()
	require.NoError(t, err)

	tests := []struct {
		name string
		yaml string
		want []string // each a line of the error, without the path
	}{
		{"several mistakes", `principals:
  - id: hr-feed
    kind: service
    key: ` + k1 + `
    capabilities: [hr, root]
  - id: portal
    kind: robot
    key: ` + k2 + `
    colour: blue
  - id: hr-feed
    kind: service
    key: ` + string(seed) + `
  - id: 1547-1
    kind: person
    key: ` + k2 + `
    capabilities:
      - on_behalf
`, []string{
			`:5: principal "hr-feed": capability "root" is not one of hr, on_behalf, operator, auditor`,
			`:7: principal "portal": kind "robot" must be person or service`,
			`:9: unknown key "colour": a principal has id, kind, name, key, curve_key, capabilities, on_behalf_of`,
			`:10: principal "hr-feed": id "hr-feed" is also principal 1`,
			`:12: principal "hr-feed": key is a seed, a secret`,
			`:15: principal "1547-1": key is also the key of principal 2`,
			`:17: principal "1547-1": a person may hold only operator, auditor, hr_requester, not "on_behalf"`,
		}},
		{"on_behalf_of names an unknown principal", `principals:
  - id: desk
    kind: service
    key: ` + k1 + `
    capabilities: [on_behalf]
    on_behalf_of:
      - ops
`, []string{`:7: principal "desk": on_behalf_of names "ops", which is not a principal of this file`}},
		{"missing fields point at the item", "principals:\n  - id: x\n  - kind: service\n", []string{
			`:2: principal "x": kind is missing`,
			`:2: principal "x": key is missing`,
			`:3: principal #2: id is missing`,
			`:3: principal #2: key is missing`,
		}},
		{"empty file", "", []string{": the file is empty"}},
		{"only a comment", "# nobody\n", []string{": the file is empty"}},
		{"syntax", "principals:\n  - id: x\n    kind: a: b\n", []string{":3: not valid YAML: mapping values are not allowed"}},
		{"not a mapping", "- id: x\n", []string{":1: the file must be a mapping with principals:, not a list"}},
		{"no principals key", "people: []\n", []string{`:1: unknown key "people"`, ":1: principals: is missing"}},
		{"principals not a list", "principals: yes\n", []string{`:1: principals must be a list, not the value "yes"`}},
		{"item not a mapping", "principals:\n  - hr-feed\n", []string{`:2: a principal must be a mapping`}},
		{"repeated key", "principals:\n  - id: x\n    kind: service\n    key: " + k1 + "\n    kind: person\n", []string{`:5: key "kind" is repeated (first on line 3)`}},
		{"value is a list", "principals:\n  - id: [a, b]\n    kind: service\n    key: " + k1 + "\n", []string{":2: id must be a single value, not a list"}},
		{"capabilities not a list", "principals:\n  - id: x\n    kind: service\n    key: " + k1 + "\n    capabilities: hr\n", []string{`:5: capabilities must be a list, not the value "hr"`}},
		{"alias", "principals:\n  - &p\n    id: x\n    kind: service\n    key: " + k1 + "\n  - *p\n", []string{":6: aliases (*p) are not allowed"}},
		{"second document", "principals: []\n---\nprincipals: []\n", []string{":2: a second YAML document starts here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "principals.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o644))
			_, err := Load(path)
			requireKind(t, err, tilgang.Invalid)
			got := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				// w is ":LINE: message" or ": message" (no line).
				prefix, msg := path+": ", strings.TrimPrefix(w, ": ")
				if !strings.HasPrefix(w, ": ") {
					line, rest, _ := strings.Cut(w[1:], ": ")
					prefix, msg = path+":"+line+": ", rest
				}
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, prefix) && strings.Contains(g, msg) {
						found = true
					}
				}
				require.True(t, found, "want a line %s%s in\n%s", prefix, msg, err)
			}
			if tt.name == "several mistakes" || tt.name == "value is a list" {
				require.Len(t, got, len(tt.want), "one line a problem:\n%s", err)
				require.NotContains(t, err.Error(), string(seed), "a seed must never be echoed")
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	requireKind(t, err, tilgang.Invalid, "cannot read the principals file", "nope.yaml")
}

func TestLoadNullValues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(path, []byte("principals:\n  - id: x\n    kind: service\n    name: ~\n    key: "+pubOf(t, testKey(t, 1))+"\n    capabilities:\n"), 0o644))
	s, err := Load(path)
	require.NoError(t, err)
	p, ok := s.Get("x")
	require.True(t, ok)
	require.Empty(t, p.Name)
	require.Empty(t, p.Capabilities)

	require.NoError(t, os.WriteFile(path, []byte("principals: []\n"), 0o644))
	s, err = Load(path)
	require.NoError(t, err)
	require.Zero(t, s.Len())
}

// TestMayActFor: a via acts for persons, and for service principals only
// when its on_behalf_of names them; a service principal's capabilities
// count only when it signs for itself.
func TestMayActFor(t *testing.T) {
	t.Parallel()
	s, err := New([]Principal{
		{ID: "portal", Kind: KindService, Key: pubOf(t, testKey(t, 1)), Capabilities: []string{tilgang.CapOnBehalf}},
		{ID: "desk", Kind: KindService, Key: pubOf(t, testKey(t, 2)), Capabilities: []string{tilgang.CapOnBehalf}, OnBehalfOf: []string{"hrfeed"}},
		{ID: "hrfeed", Kind: KindService, Key: pubOf(t, testKey(t, 3)), Capabilities: []string{tilgang.CapHR}},
		{ID: "ops", Kind: KindService, Key: pubOf(t, testKey(t, 4)), Capabilities: []string{tilgang.CapOperator}},
		{ID: "auditor1", Kind: KindService, Key: pubOf(t, testKey(t, 5)), Capabilities: []string{tilgang.CapAuditor}},
		{ID: "1547-20001", Kind: KindPerson, Key: pubOf(t, testKey(t, 6))},
	})
	require.NoError(t, err)
	tests := []struct {
		name, via, actor string
		reason           string // "" = allowed
	}{
		{name: "no via", actor: "hrfeed"},
		{name: "via is the actor", via: "ops", actor: "ops"},
		{name: "for a person principal", via: "portal", actor: "1547-20001"},
		{name: "for a person without a key", via: "portal", actor: "1547-10234"},
		{name: "for the hr feed", via: "portal", actor: "hrfeed", reason: `via "portal" may not act on behalf of service principal "hrfeed"`},
		{name: "for an operator", via: "portal", actor: "ops", reason: `service principal "ops"`},
		{name: "for an auditor", via: "portal", actor: "auditor1", reason: `service principal "auditor1"`},
		{name: "for another on_behalf principal", via: "portal", actor: "desk", reason: `service principal "desk"`},
		{name: "named in on_behalf_of", via: "desk", actor: "hrfeed"},
		{name: "not named in on_behalf_of", via: "desk", actor: "ops", reason: `service principal "ops"`},
		{name: "desk for a person", via: "desk", actor: "1547-10234"},
		{name: "via without on_behalf", via: "hrfeed", actor: "1547-10234", reason: "lacks the on_behalf capability"},
		{name: "unknown via", via: "kiosk", actor: "1547-10234", reason: `unknown signer: via "kiosk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.MayActFor(tt.via, tt.actor)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			requireKind(t, err, tilgang.Denied, tt.reason)
		})
	}
}
