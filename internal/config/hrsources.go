package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/hrsource"
)

// HRSource is one entry of `hr_sources:` (DESIGN.md "HR sources"): an HR
// system the worker syncs on a schedule and `tilgang hr sync --source NAME`
// runs at once. Beside `type`, the common settings below, and the type's own
// settings (hrsource's *Config types: base_url, auth, municipality,
// company, columns ...):
//
//	hr_sources:
//	  visma:
//	    type: visma-hrm
//	    key: /etc/tilgang/keys/hr-feed.nk   # the seed of a principal holding hr; it signs the events
//	    principal: hr-feed                  # default: the key file's name without .nk
//	    schedule: {every: 1h}               # or {daily: ["05:30", "13:00"]} (Oslo); none: only by hand
//	    fail_safe: {max_leave_share: 0.10, max_change_share: 0.25}
//	    days_before_start: 14               # future joiners are sent this many days before their start
//	    wait: 10m                           # how long a run follows the worker processing its events
//	    ca_file: ""                         # extra CA to trust for the service's https (optional)
//	    base_url: https://hrm.example.kommune.no
//	    auth: {type: basic, username: WS-AD, password_env: TILGANG_VISMA_PASSWORD}   # or password_file
//	    company: "1"
//	    municipality: "1547"
//	  lonn:
//	    type: stamdata3
//	    file: /var/lib/tilgang/import/stamdata3.xml   # stamdata3, json, csv: the file read
//	    key: /etc/tilgang/keys/hr-feed.nk
//	    municipality: "1547"
type HRSource struct {
	Type            string        `yaml:"-"`
	Key             string        `yaml:"key" secret:"false"`
	Principal       string        `yaml:"principal"`
	File            string        `yaml:"file"`
	CAFile          string        `yaml:"ca_file"`
	Schedule        HRSchedule    `yaml:"schedule"`
	FailSafe        HRFailSafe    `yaml:"fail_safe"`
	DaysBeforeStart *int          `yaml:"days_before_start"`
	Wait            time.Duration `yaml:"wait"`
	// Config is the type's own settings.
	Config hrsource.Config `yaml:"-"`
}

// HRSchedule is when the worker runs a source: every period (slots counted
// from the Unix epoch), or at times of day, Oslo time. Each slot runs on
// one replica only.
type HRSchedule struct {
	Every time.Duration `yaml:"every"`
	Daily []string      `yaml:"daily"`
}

// HRFailSafe bounds what one run may change (hrsource.FailSafe).
type HRFailSafe struct {
	MaxLeaveShare  float64 `yaml:"max_leave_share"`
	MaxChangeShare float64 `yaml:"max_change_share"`
}

// DefaultHRWait is how long a run follows the worker when wait is not set.
const DefaultHRWait = 10 * time.Minute

// hrCommon are the keys of HRSource itself; the others are the type's.
var hrCommon = func() map[string]bool {
	fields, _, _ := structFields(reflect.TypeOf(HRSource{}))
	out := map[string]bool{}
	for k := range fields {
		out[k] = true
	}
	return out
}()

var (
	hrSourcesType = reflect.TypeOf(map[string]*HRSource{})
	clockTime     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// hrSources decodes hr_sources: each source's type, its common settings,
// then the rest into the Config its type has in hrsource.Types.
func (d *decoder) hrSources(n *yaml.Node, v reflect.Value, path string) {
	d.typedMap(n, v, path, "source", "source", "{type: stamdata3, ...}", func(e typedEntry) {
		p := e.path
		var common, own [][2]*yaml.Node
		for _, f := range e.fields {
			if hrCommon[f[0].Value] {
				common = append(common, f)
			} else {
				own = append(own, f)
			}
		}
		known := " (known: " + strings.Join(hrTypes(), ", ") + ")"
		if e.typ == nil {
			d.fail(e.line, p+".type", "missing: say which kind of HR source this is%s", known)
			d.failed = append(d.failed, p)
			return
		}
		cfg, err := hrsource.Types.New(e.typ.Value)
		if err != nil {
			d.fail(e.typ.Line, p+".type", "%q is not an HR source type this build knows%s", e.typ.Value, known)
			d.failed = append(d.failed, p)
			return
		}
		src := &HRSource{Type: e.typ.Value, Config: cfg}
		d.value(mappingOf(e.body, common), reflect.ValueOf(src).Elem(), p, false)
		d.value(mappingOf(e.body, own), reflect.ValueOf(cfg), p, false)
		v.SetMapIndex(reflect.ValueOf(e.name), reflect.ValueOf(src))
	})
}

func hrTypes() []string {
	out := make([]string, 0, len(hrsource.Types))
	for k := range hrsource.Types {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hrSourcesNode renders hr_sources for config check: each source's type,
// common settings and the type's own, secrets redacted.
func hrSourcesNode(v reflect.Value) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		src := v.MapIndex(k).Interface().(*HRSource)
		body := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		body.Content = append(body.Content, scalar("!!str", "type"), scalar("!!str", src.Type))
		shown := *src
		if shown.DaysBeforeStart == nil {
			d := hrDefaultDays
			shown.DaysBeforeStart = &d
		}
		if shown.Wait == 0 {
			shown.Wait = DefaultHRWait
		}
		if n := toNode(reflect.ValueOf(shown), false); n.Kind == yaml.MappingNode {
			body.Content = append(body.Content, n.Content...)
		}
		if src.Config != nil {
			if n := toNode(reflect.ValueOf(src.Config), false); n.Kind == yaml.MappingNode {
				body.Content = append(body.Content, n.Content...)
			}
		}
		m.Content = append(m.Content, scalar("!!str", k.String()), body)
	}
	return m
}

// hrDefaultDays is days_before_start when not set (hrsync's default; not
// imported here: config stays below the packages that run things).
const hrDefaultDays = 14

// validateHRSources adds the problems of hr_sources.
func (c *Config) validateHRSources(add func(string, string, ...any)) {
	names := make([]string, 0, len(c.HRSources))
	for n := range c.HRSources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := c.HRSources[name]
		p := "hr_sources." + name
		if !tilgang.ValidToken(name) {
			add(p, "%q is not a source name: letters, digits, '-' and '_'", name)
		}
		if s == nil || s.Config == nil {
			continue
		}
		if err := s.Config.Validate(); err != nil {
			add(p, "%s", strings.TrimPrefix(err.Error(), "hrsource "))
		}
		if s.Key == "" {
			add(p+".key", "missing: the seed file of the principal that signs this source's events (a principal holding hr)")
		} else {
			c.checkFile(add, p+".key", s.Key, true)
			if s.Principal == "" && !tilgang.ValidToken(keyOwner(s.Key)) {
				add(p+".principal", "missing: cannot tell whose key %s is: name it <principal>.nk or set principal", s.Key)
			}
		}
		if s.Principal != "" && !tilgang.ValidToken(s.Principal) {
			add(p+".principal", "%q is not a principal id", s.Principal)
		}
		c.checkFile(add, p+".ca_file", s.CAFile, false)
		switch s.Type {
		case hrsource.Stamdata3Type, hrsource.JSONType, hrsource.CSVType:
			if s.File == "" {
				add(p+".file", "missing: the file a %s source reads", s.Type)
			}
		default:
			if s.File != "" {
				add(p+".file", "a %s source is read over https from base_url, not from a file", s.Type)
			}
		}
		if s.Schedule.Every != 0 && len(s.Schedule.Daily) > 0 {
			add(p+".schedule", "set only one of every and daily")
		}
		if s.Schedule.Every < 0 || (s.Schedule.Every > 0 && s.Schedule.Every < time.Minute) {
			add(p+".schedule.every", "%s is too often: at least 1m", s.Schedule.Every)
		}
		for i, t := range s.Schedule.Daily {
			if !clockTime.MatchString(t) {
				add(fmt.Sprintf("%s.schedule.daily[%d]", p, i), "%q is not a time of day like 05:30 (Oslo)", t)
			}
		}
		for _, sh := range []struct {
			key string
			v   float64
		}{{"max_leave_share", s.FailSafe.MaxLeaveShare}, {"max_change_share", s.FailSafe.MaxChangeShare}} {
			if sh.v < 0 || sh.v > 1 {
				add(p+".fail_safe."+sh.key, "%v is not a share between 0 and 1 (0.10 is 10 %%)", sh.v)
			}
		}
		if d := s.DaysBeforeStart; d != nil && (*d < 0 || *d > 366) {
			add(p+".days_before_start", "%d is not between 0 and 366", *d)
		}
		if s.Wait < 0 {
			add(p+".wait", "must not be negative")
		}
	}
}

func keyOwner(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// Actor is the principal that signs the source's events.
func (s *HRSource) Actor() string {
	if s.Principal != "" {
		return s.Principal
	}
	return keyOwner(s.Key)
}

// Days is days_before_start with its default.
func (s *HRSource) Days() int {
	if s.DaysBeforeStart == nil {
		return hrDefaultDays
	}
	return *s.DaysBeforeStart
}

// WaitOrDefault is wait with its default.
func (s *HRSource) WaitOrDefault() time.Duration {
	if s.Wait == 0 {
		return DefaultHRWait
	}
	return s.Wait
}

// HTTPClient is the client a service source is read with: the system's
// roots, plus ca_file when set.
func (s *HRSource) HTTPClient() (*http.Client, error) {
	if s.CAFile == "" {
		return &http.Client{Timeout: 5 * time.Minute}, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", s.CAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, nil
}
