package portal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ror-ikt/tilgang/internal/sessionkey"
)

// EnsureSessionKey makes, where missing, a session key file at path (32
// random bytes, base64, mode 0600) and reads it: `tilgang dev` keeps its
// key in its data directory so that sessions survive a restart.
func EnsureSessionKey(path string) ([]byte, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, sessionkey.Len)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("portal: make a session key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("portal: write session key %s: %w", path, err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("portal: session key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("portal: session key %s is readable by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	return sessionkey.Read(path)
}
