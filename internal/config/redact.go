package config

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang/connectors"
)

// RedactedValue replaces every secret in Redacted's output.
const RedactedValue = "REDACTED"

// Redacted is the configuration as YAML, defaults applied (a connector's
// too, when its Config is a connectors.Defaulter), with every
// secret replaced by REDACTED: settings that are secrets by name or by a
// `secret:"true"` tag, and the password in any URL or key=value DSN. A
// comment at the top shows where the ledger DSN came from, redacted too.
func (c *Config) Redacted() string {
	var b bytes.Buffer
	if c.file != "" {
		fmt.Fprintf(&b, "# %s\n", c.file)
	}
	src := "ledger.dsn"
	switch {
	case c.Ledger.DSNEnv != "":
		src = "$" + c.Ledger.DSNEnv
	case c.Ledger.DSNFile != "":
		src = c.Ledger.DSNFile
	}
	if dsn, err := c.DSN(); err == nil {
		fmt.Fprintf(&b, "# ledger DSN (from %s): %s\n", src, redactString(dsn))
	} else {
		fmt.Fprintf(&b, "# ledger DSN not resolved: %s\n", err)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(reflectOf(c), false)); err != nil {
		fmt.Fprintf(&b, "# cannot print the config: %v\n", err)
	}
	enc.Close()
	return b.String()
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// toNode renders v as a YAML node tree, redacting as it goes.
func toNode(v reflect.Value, secret bool) *yaml.Node {
	if !v.IsValid() {
		return scalar("!!null", "null")
	}
	t := v.Type()
	switch {
	case t == connectorsType:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			inst := v.MapIndex(k).Interface().(Connector)
			body := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
			body.Content = append(body.Content, scalar("!!str", "type"), scalar("!!str", inst.Type))
			settings := inst.Config
			if d, ok := settings.(connectors.Defaulter); ok {
				// The values Open runs with, from the code that applies them: a
				// zero left by the file would read as "none" (timeout: 0s).
				settings = d.WithDefaults(k.String())
			}
			if settings != nil {
				if settings := toNode(reflect.ValueOf(settings), false); settings.Kind == yaml.MappingNode {
					body.Content = append(body.Content, settings.Content...)
				}
			}
			if len(body.Content) > 4 {
				body.Style = 0
			}
			m.Content = append(m.Content, scalar("!!str", k.String()), body)
		}
		return m
	case t == hrSourcesType:
		return hrSourcesNode(v)
	case t == durationType:
		return leafNode(v, secret)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalar("!!null", "null")
		}
		return toNode(v.Elem(), secret)
	case reflect.Struct:
		fields, names, inlineMap := structFields(t)
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, name := range names {
			f := fields[name]
			fv := v.FieldByIndex(f.index)
			if f.headers && fv.Kind() == reflect.Map {
				m.Content = append(m.Content, scalar("!!str", name), mapNode(fv, secret, isSecretHeader))
				continue
			}
			m.Content = append(m.Content, scalar("!!str", name), toNode(fv, secret || f.secret))
		}
		if inlineMap != nil {
			if extra := toNode(v.FieldByIndex(inlineMap), secret); extra.Kind == yaml.MappingNode {
				m.Content = append(m.Content, extra.Content...)
			}
		}
		return m
	case reflect.Map:
		return mapNode(v, secret, isSecretKey)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return leafNode(v, secret)
		}
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			s.Content = append(s.Content, toNode(v.Index(i), secret))
		}
		return s
	}
	return leafNode(v, secret)
}

// mapNode renders a map in key order, each value redacted when secret or
// when its key is one secretKey names (isSecretKey; isSecretHeader for a
// map of header values, where any but a known harmless header may carry a
// credential).
func mapNode(v reflect.Value, secret bool, secretKey func(string) bool) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, k := range keys {
		ks := fmt.Sprint(k.Interface())
		m.Content = append(m.Content, scalar("!!str", ks), toNode(v.MapIndex(k), secret || secretKey(ks)))
	}
	return m
}

func leafNode(v reflect.Value, secret bool) *yaml.Node {
	if secret && !v.IsZero() {
		return scalar("!!str", RedactedValue)
	}
	if v.Kind() == reflect.String {
		return scalar("!!str", redactString(v.String()))
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return scalar("!!str", "?")
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Value = redactString(n.Value)
	}
	return n
}

// keywordPassword finds a password in a libpq key=value DSN: its value is
// single-quoted (with \' and \\ escapes) or runs to the next unescaped
// space (password=Hem\ melig8 is one value).
var keywordPassword = regexp.MustCompile(`(?i)((?:^|\s)\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s\\]|\\.)*\\?)`)

// urlStart is where a URL of a comma-separated list begins: a scheme.
var urlStart = regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9+.-]*://`)

// splitURLs splits a comma-separated list of URLs (nats://a,nats://b) at
// the commas before a scheme only: a comma inside a URL's password
// (postgres://u:Hemmelig,Pass1@db) stays in it.
func splitURLs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if len(out) > 0 && !urlStart.MatchString(p) {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// redactString replaces the password in a URL (user info or query) or a
// key=value DSN with REDACTED; other strings are returned as they are.
func redactString(s string) string {
	if strings.Contains(s, "://") {
		var parts []string
		for _, p := range splitURLs(s) {
			parts = append(parts, redactURL(p))
		}
		return strings.Join(parts, ",")
	}
	if keywordPassword.MatchString(s) {
		return keywordPassword.ReplaceAllString(s, "${1}"+RedactedValue)
	}
	return s
}

func redactURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password") {
			return RedactedValue
		}
		return s
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), RedactedValue)
		} else {
			// nats://TOKEN@host: the user part alone is the secret
			u.User = url.User(RedactedValue)
		}
		changed = true
	}
	q := u.Query()
	for k := range q {
		if isSecretKey(k) {
			q.Set(k, RedactedValue)
			changed = true
		}
	}
	if !changed {
		return s
	}
	u.RawQuery = q.Encode()
	return u.String()
}
