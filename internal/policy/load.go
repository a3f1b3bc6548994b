package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Load reads and validates the catalogue in dir. connectors are the
// configured connector instance names; nil skips that check. On any problem
// it returns a *LoadError listing all of them and no catalogue.
func Load(dir string, connectors []string) (*Catalogue, error) {
	c, probs := load(os.DirFS(dir), dir, func(name string) string { return filepath.Join(dir, name) }, connectors)
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs}
	}
	return c, nil
}

// LoadFS is Load from the root of fsys (an embedded catalogue, say).
func LoadFS(fsys fs.FS, connectors []string) (*Catalogue, error) {
	c, probs := load(fsys, ".", func(name string) string { return path.Join(".", name) }, connectors)
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs}
	}
	return c, nil
}

// Check validates the catalogue in dir and returns its problems sorted by
// file and line; none means Load would succeed.
func Check(dir string, connectors []string) []Problem {
	_, probs := load(os.DirFS(dir), dir, func(name string) string { return filepath.Join(dir, name) }, connectors)
	return probs
}

// IsPolicyFile reports whether a file name in the catalogue directory is a
// system file: *.yaml, except *_test.yaml (policy tests) and dot files.
func IsPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, "_test.yaml") && !strings.HasPrefix(name, ".")
}

func load(fsys fs.FS, dir string, display func(string) string, connectors []string) (*Catalogue, []Problem) {
	var probs []Problem
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, []Problem{{File: dir, Msg: "cannot read the policy directory: " + err.Error()}}
	}

	type file struct {
		name, path, hash string
		sys              *System
		p                *parser
	}
	var files []*file
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() || strings.HasPrefix(name, "."):
			// tests/ and the like hold policy tests, not systems
		case strings.HasSuffix(name, ".yml"):
			probs = append(probs, Problem{File: display(name), Msg: "policy files end in .yaml: rename it to " + strings.TrimSuffix(name, ".yml") + ".yaml"})
		case IsPolicyFile(name):
			files = append(files, &file{name: name, path: display(name)})
		}
	}
	if len(files) == 0 && len(probs) == 0 {
		return nil, []Problem{{File: dir, Msg: "no policy files (*.yaml): the catalogue needs at least one system"}}
	}

	version := sha256.New()
	for _, f := range files {
		f.p = &parser{file: f.path, connectors: connectors}
		data, err := fs.ReadFile(fsys, f.name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			f.p.add(0, "cannot read: %v", err)
			continue
		}
		sum := sha256.Sum256(data)
		f.hash = hex.EncodeToString(sum[:])
		version.Write([]byte(f.name))
		version.Write([]byte{0})
		version.Write([]byte(f.hash))
		version.Write([]byte{'\n'})
		if f.sys = f.p.parseFile(stemOf(f.name), data); f.sys != nil {
			f.sys.File, f.sys.FileHash = f.path, f.hash
		}
	}

	// Register systems by id, the ones matching their file name first, so a
	// copy under another name is the one told it is a duplicate.
	c := &Catalogue{Systems: map[string]*System{}, Dir: dir}
	unregistered := map[string]bool{} // stems of files that gave no usable system id
	folded := map[string]*System{}
	for _, matching := range []bool{true, false} {
		for _, f := range files {
			s := f.sys
			if s == nil || s.ID != stemOf(f.name) {
				unregistered[stemOf(f.name)] = true
			}
			if s == nil || s.ID == "" {
				continue
			}
			if (s.ID == stemOf(f.name)) != matching {
				continue
			}
			switch first := folded[strings.ToLower(s.ID)]; {
			case first != nil && first.ID == s.ID:
				f.p.add(s.Line, "system %q is also defined in %s", s.ID, first.File)
			case first != nil:
				f.p.add(s.Line, "system %q differs only in case from system %q in %s", s.ID, first.ID, first.File)
				unregistered[s.ID] = true
			default:
				c.Systems[s.ID] = s
				folded[strings.ToLower(s.ID)] = s
			}
		}
	}

	// References across files: separation-of-duties conflicts.
	for _, f := range files {
		s := f.sys
		if s == nil {
			continue
		}
		for _, r := range s.Roles {
			for i, ref := range r.Conflicts {
				line := r.conflictLines[i]
				sysID, roleID, _ := strings.Cut(ref, "/")
				bad := func(format string, args ...any) {
					f.p.add(line, "role %q: conflicts %q: %s", r.ID, ref, fmt.Sprintf(format, args...))
				}
				if s.ID != "" && sysID == s.ID && roleID == r.ID {
					bad("a role cannot conflict with itself")
					continue
				}
				target, ok := c.Systems[sysID]
				if sysID == s.ID {
					target, ok = s, true // a duplicate-id file still knows its own roles
				}
				switch {
				case !ok && unregistered[sysID]:
					// that file's own problems are reported; do not cascade
				case !ok:
					bad("there is no system %q in the catalogue", sysID)
				case target.roles[roleID] == nil:
					bad("system %q has no role %q (roles: %s)", sysID, roleID, strings.Join(roleIDs(target), ", "))
				}
			}
		}
	}
	for _, f := range files {
		probs = append(probs, f.p.probs...)
	}

	sortProblems(probs)
	if len(probs) > 0 {
		return nil, probs
	}
	c.Version = hex.EncodeToString(version.Sum(nil))
	return c, nil
}

func stemOf(name string) string { return strings.TrimSuffix(name, ".yaml") }
