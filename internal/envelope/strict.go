package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// checkJSON checks that raw is exactly one JSON value with no key repeated
// in any object at any depth. Call it on valid JSON (json.Valid): a quick
// scan clears the common case, and only a document it cannot clear is
// walked token by token, which names the problem.
func checkJSON(raw []byte) error {
	if noRepeatedKeys(raw) {
		return nil
	}
	return checkJSONTokens(raw)
}

// noRepeatedKeys reports whether no object in raw, a valid JSON document,
// repeats a key. It answers false when unsure (a key with escapes that
// equals another once unescaped), never true wrongly.
func noRepeatedKeys(raw []byte) bool {
	type frame struct {
		obj  bool
		keys [][]byte
		many map[string]struct{} // past 16 keys
	}
	var stack []frame
	wantKey := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '{':
			stack = append(stack, frame{obj: true})
			wantKey = true
		case '[':
			stack = append(stack, frame{})
			wantKey = false
		case '}', ']':
			stack = stack[:len(stack)-1]
			wantKey = false
		case ',':
			wantKey = len(stack) > 0 && stack[len(stack)-1].obj
		case '"':
			j := i + 1
			escaped := false
			for ; raw[j] != '"'; j++ {
				if raw[j] == '\\' {
					escaped = true
					j++
				}
			}
			if wantKey {
				if escaped {
					return false
				}
				top := &stack[len(stack)-1]
				k := raw[i+1 : j]
				if top.many != nil {
					if _, dup := top.many[string(k)]; dup {
						return false
					}
					top.many[string(k)] = struct{}{}
				} else {
					for _, seen := range top.keys {
						if bytes.Equal(seen, k) {
							return false
						}
					}
					if top.keys = append(top.keys, k); len(top.keys) > 16 {
						top.many = map[string]struct{}{}
						for _, seen := range top.keys {
							top.many[string(seen)] = struct{}{}
						}
					}
				}
				wantKey = false
			}
			i = j
		}
	}
	return true
}

func checkJSONTokens(raw []byte) error {
	type frame struct {
		obj     bool
		keys    map[string]struct{}
		wantKey bool
		cur     string // the key whose value is being read (objects)
		idx     int    // the index of the value being read (arrays)
		path    string
	}
	var stack []*frame
	child := func(f *frame) string {
		switch {
		case f == nil:
			return ""
		case f.obj && f.path == "":
			return f.cur
		case f.obj:
			return f.path + "." + f.cur
		default:
			return f.path + "[" + strconv.Itoa(f.idx) + "]"
		}
	}
	done := func(f *frame) {
		if f == nil {
			return
		}
		if f.obj {
			f.wantKey = true
		} else {
			f.idx++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	complete := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if !complete {
				return invalid("document is empty")
			}
			return nil
		}
		if err != nil {
			return invalid("document is not valid JSON (at byte %d): %s", dec.InputOffset(), strings.TrimPrefix(err.Error(), "json: "))
		}
		if complete {
			return invalid("document has more after the JSON value (at byte %d)", dec.InputOffset())
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					complete = true
				} else {
					done(stack[len(stack)-1])
				}
				continue
			}
			k, _ := tok.(string)
			if _, dup := top.keys[k]; dup {
				if top.path == "" {
					return invalid("key %s is repeated", quote(k))
				}
				return invalid("key %s is repeated in %s", quote(k), top.path)
			}
			top.keys[k] = struct{}{}
			top.cur = k
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]struct{}{}, wantKey: true, path: child(top)})
		case json.Delim('['):
			stack = append(stack, &frame{path: child(top)})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				complete = true
			} else {
				done(stack[len(stack)-1])
			}
		default:
			if top == nil {
				complete = true
			}
			done(top)
		}
	}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeStrict decodes data into v (a pointer to a struct) after checking
// that every object key is exactly a field's JSON name and every value has
// the JSON type of its field, naming the field path (rooted at path) and
// the value on the first problem.
func decodeStrict(data []byte, v any, path string) error {
	if err := walk(data, reflect.TypeOf(v).Elem(), path); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("%s: %s", path, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func walk(raw json.RawMessage, t reflect.Type, path string) error {
	if string(raw) == "null" {
		return nil // encoding/json leaves the zero value; validation judges it
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		u := reflect.New(t).Interface().(json.Unmarshaler)
		if err := u.UnmarshalJSON(raw); err != nil {
			return invalid("%s %s: %s", path, quote(string(raw)), strings.TrimPrefix(err.Error(), "json: "))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return walk(raw, t.Elem(), path)
	case reflect.Struct:
		if raw[0] != '{' {
			return invalid("%s must be an object, not %s", path, jsonKind(raw))
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return invalid("%s is not a valid object", path)
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = f.Type
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return invalid("%s has the unknown field %s", path, quote(k))
			}
			if err := walk(m[k], ft, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if raw[0] != '[' {
			return invalid("%s must be an array, not %s", path, jsonKind(raw))
		}
		var a []json.RawMessage
		if err := json.Unmarshal(raw, &a); err != nil {
			return invalid("%s is not a valid array", path)
		}
		for i, v := range a {
			if err := walk(v, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if raw[0] != '"' {
			return invalid("%s must be a string, not %s", path, jsonKind(raw))
		}
		return nil
	case reflect.Bool:
		if raw[0] != 't' && raw[0] != 'f' {
			return invalid("%s must be true or false, not %s", path, jsonKind(raw))
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); err != nil {
			return invalid("%s %s must be a whole number", path, quote(string(raw)))
		}
		return nil
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(string(raw), t.Bits()); err != nil || !isNumber(raw) {
			return invalid("%s %s must be a number", path, quote(string(raw)))
		}
		return nil
	}
	return invalid("%s: no strict decoding for %s", path, t)
}

func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}
