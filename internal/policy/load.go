package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
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
	c := &Catalogue{Systems: map[string]*System{}, Dir: dir}
	unregistered := map[string]bool{} // stems of files that gave no usable system id
	folded := map[string]*System{}
	for _, f := range files {
		stem := strings.TrimSuffix(f.name, ".yaml")
		data, err := fs.ReadFile(fsys, f.name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			probs = append(probs, Problem{File: f.path, Msg: "cannot read: " + err.Error()})
			unregistered[stem] = true
			continue
		}
		sum := sha256.Sum256(data)
		f.hash = hex.EncodeToString(sum[:])
		version.Write([]byte(f.name))
		version.Write([]byte{0})
		version.Write([]byte(f.hash))
		version.Write([]byte{'\n'})

		p := &parser{file: f.path, connectors: connectors}
		s := p.parseFile(stem, data)
		if s != nil {
			s.File, s.FileHash = f.path, f.hash
		}
		switch {
		case s == nil || s.ID == "":
			unregistered[stem] = true
		case c.Systems[s.ID] != nil:
			p.add(s.Line, "system %q is also defined in %s", s.ID, c.Systems[s.ID].File)
		case folded[strings.ToLower(s.ID)] != nil:
			first := folded[strings.ToLower(s.ID)]
			p.add(s.Line, "system %q differs only in case from system %q in %s", s.ID, first.ID, first.File)
		default:
			c.Systems[s.ID] = s
			folded[strings.ToLower(s.ID)] = s
		}
		f.sys = s
		probs = append(probs, p.probs...)
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
				bad := func(msg string) {
					probs = append(probs, Problem{File: f.path, Line: line, Msg: "role " + strconv.Quote(r.ID) + ": conflicts " + strconv.Quote(ref) + ": " + msg})
				}
				if s.ID != "" && sysID == s.ID && roleID == r.ID {
					bad("a role cannot conflict with itself")
					continue
				}
				target, ok := c.Systems[sysID]
				if !ok && sysID == s.ID {
					target, ok = s, true // a duplicate-id file still knows its own roles
				}
				switch {
				case !ok && unregistered[sysID]:
					// that file's own problems are reported; do not cascade
				case !ok:
					bad("there is no system " + strconv.Quote(sysID) + " in the catalogue")
				case target.roles[roleID] == nil:
					bad("system " + strconv.Quote(sysID) + " has no role " + strconv.Quote(roleID) + " (roles: " + strings.Join(roleIDs(target), ", ") + ")")
				}
			}
		}
	}

	sortProblems(probs)
	if len(probs) > 0 {
		return nil, probs
	}
	c.Version = hex.EncodeToString(version.Sum(nil))
	return c, nil
}
