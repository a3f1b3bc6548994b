// Package sessionkey reads the portal's session key files. It is a leaf:
// both the config check and the portal read keys with it, and the portal
// must not import the config package (which imports every connector, whose
// tests import the app and so the portal).
package sessionkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Len is the length of a session key: AES-256.
const Len = 32

// Read reads a session key file: Len bytes in base64 (standard or URL
// alphabet, padded or not), white space around it ignored. Errors name the
// file, never its content.
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("session key %s does not exist", path)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("session key %s cannot be read: permission denied for this user", path)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("session key %s cannot be read: %v", path, err)
	}
	s := string(bytes.TrimSpace(b))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != Len {
				return nil, fmt.Errorf("session key %s holds %d bytes, not %d: make one with `head -c32 /dev/urandom | base64`", path, len(k), Len)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("session key %s is not base64: make one with `head -c32 /dev/urandom | base64`", path)
}
