package principals

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
)

// The service principals of `tilgang dev`.
const (
	DevID = "dev" // may act on behalf of persons and of hr, read everything, retry and cancel
	HRID  = "hr"  // the hr capability, for `tilgang hr ...` in dev
	// PortalID is the portal's service principal: on_behalf only, so it
	// signs for the person signed in and can do no more than they can.
	PortalID = "portal"
)

// Dev key files under <data>/keys.
const (
	DevSeedFile  = "dev.nk" // the SU... user seed of DevID
	DevCurveFile = "dev.xk" // the SX... curve seed credentials are sealed to in dev
	HRSeedFile   = "hr.nk"  // the SU... user seed of HRID
	// PortalSeedFile is the SU... user seed of PortalID.
	PortalSeedFile = "portal.nk"
	// WorkerSeedFile is the SU... user seed of the service principal
	// worker, which signs audit anchors.
	WorkerSeedFile = "worker.nk"
	keysDir        = "keys"
	seedFileMode   = 0o600
	keysDirMode    = 0o700
	groupAndOther  = 0o077
)

// EnsureDev makes, where missing, and loads the principals of `tilgang
// dev` under dir (DESIGN.md "Principals and signatures"):
// dir/keys/dev.nk, the user seed of service principal "dev" (capabilities
// on_behalf, auditor, operator; on_behalf_of hr, so that programs holding
// only the dev key can send HR events as hr); dir/keys/dev.xk, the curve seed that
// credentials are sealed to for dev; and dir/keys/hr.nk, the user seed of
// service principal "hr" (capability hr); and dir/keys/portal.nk, the user
// seed of service principal "portal" (capability on_behalf). Each file holds the seed string
// alone, mode 0600, in a directory of mode 0700; a later call reuses them.
// An existing seed file that others can read is refused, as ssh refuses a
// readable private key: dev may act on behalf of persons and hold operator.
func EnsureDev(dir string) (*Set, error) {
	kd := filepath.Join(dir, keysDir)
	if err := os.MkdirAll(kd, keysDirMode); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "principals: make the dev key directory")
	}
	devPub, err := ensureSeed(filepath.Join(kd, DevSeedFile), nkeys.PrefixByteUser)
	if err != nil {
		return nil, err
	}
	devCurve, err := ensureSeed(filepath.Join(kd, DevCurveFile), nkeys.PrefixByteCurve)
	if err != nil {
		return nil, err
	}
	hrPub, err := ensureSeed(filepath.Join(kd, HRSeedFile), nkeys.PrefixByteUser)
	if err != nil {
		return nil, err
	}
	portalPub, err := ensureSeed(filepath.Join(kd, PortalSeedFile), nkeys.PrefixByteUser)
	if err != nil {
		return nil, err
	}
	return New([]Principal{
		{ID: DevID, Kind: KindService, Name: "tilgang dev", Key: devPub, CurveKey: devCurve,
			Capabilities: []string{tilgang.CapOnBehalf, tilgang.CapAuditor, tilgang.CapOperator}, OnBehalfOf: []string{HRID}},
		{ID: HRID, Kind: KindService, Name: "tilgang dev HR feed", Key: hrPub,
			Capabilities: []string{tilgang.CapHR}},
		{ID: PortalID, Kind: KindService, Name: "tilgang dev portal", Key: portalPub,
			Capabilities: []string{tilgang.CapOnBehalf}},
	})
}

// EnsureWorkerKey makes, where missing, dir/keys/worker.nk, the seed of
// the service principal worker in dev, and loads it.
func EnsureWorkerKey(dir string) (nkeys.KeyPair, error) {
	kd := filepath.Join(dir, keysDir)
	if err := os.MkdirAll(kd, keysDirMode); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "principals: make the dev key directory")
	}
	path := filepath.Join(kd, WorkerSeedFile)
	if _, err := ensureSeed(path, nkeys.PrefixByteUser); err != nil {
		return nil, err
	}
	return LoadSeed(path)
}

// ensureSeed makes a seed file of the given type unless it exists, and
// returns the public key of the seed in it. A new file appears complete or
// not at all (written aside, then linked into place), so two processes
// starting at once agree on one key.
func ensureSeed(path string, prefix nkeys.PrefixByte) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := writeSeed(path, prefix); err != nil {
			return "", err
		}
	}
	if err := checkPrivate(path); err != nil {
		return "", err
	}
	kp, err := loadSeed(path, prefix)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", tilgang.Wrap(tilgang.Internal, err, "principals: public key of %s", path)
	}
	return pub, nil
}

func writeSeed(path string, prefix nkeys.PrefixByte) (err error) {
	var kp nkeys.KeyPair
	if prefix == nkeys.PrefixByteCurve {
		kp, err = nkeys.CreateCurveKeys()
	} else {
		kp, err = nkeys.CreatePair(prefix)
	}
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: make a key for %s", path)
	}
	defer kp.Wipe()
	err = WriteSeed(path, kp)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process made it meanwhile: use that one
	}
	return err
}

// WriteSeed writes kp's seed, the seed string alone, to path with mode
// 0600. It never replaces a file: when path exists it fails with an error
// wrapping fs.ErrExist. The file appears complete or not at all (written
// aside, then linked into place).
func WriteSeed(path string, kp nkeys.KeyPair) error {
	seed, err := kp.Seed()
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: seed for %s", path)
	}
	// seed is kp's own: the caller wipes kp.
	return writeSeedFile(path, seed)
}

func existsErr(path string) error {
	return tilgang.Wrap(tilgang.Invalid, fs.ErrExist, "principals: %s already exists: a seed file is never replaced; move it away or name another file", path)
}

func writeSeedFile(path string, seed []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return existsErr(path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(seedFileMode); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	if _, err := f.Write(seed); err != nil {
		f.Close()
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	if err := f.Close(); err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	// Link, unlike rename, never replaces a file another process made meanwhile.
	err = os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return existsErr(path)
	}
	// A file system without hard links: create in place, still never replacing.
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, seedFileMode)
	if errors.Is(err, fs.ErrExist) {
		return existsErr(path)
	}
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	_, err = f.Write(seed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	return nil
}

func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: %s", path)
	}
	if fi.Mode().Perm()&groupAndOther != 0 {
		return tilgang.Errorf(tilgang.Denied, "principals: %s is readable by others (mode %04o): chmod 600 it, or delete it to make a new key", path, fi.Mode().Perm())
	}
	return nil
}

// LoadSeed reads an nkeys user seed (SU..., the seed string alone, white
// space around it ignored) from path: the key a CLI user signs with.
// Errors name the file, never its content.
func LoadSeed(path string) (nkeys.KeyPair, error) {
	return loadSeed(path, nkeys.PrefixByteUser)
}

// LoadCurveSeed reads an nkeys curve seed (SX...) from path: the key that
// opens credentials sealed to its principal.
func LoadCurveSeed(path string) (nkeys.KeyPair, error) {
	return loadSeed(path, nkeys.PrefixByteCurve)
}

func loadSeed(path string, want nkeys.PrefixByte) (nkeys.KeyPair, error) {
	what := map[nkeys.PrefixByte]string{nkeys.PrefixByteUser: "an nkeys user seed (SU...)", nkeys.PrefixByteCurve: "an nkeys curve seed (SX...)"}[want]
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, tilgang.Errorf(tilgang.NotFound, "principals: key file %s does not exist: it should hold %s", path, what)
	}
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "principals: cannot read key file %s", path)
	}
	defer wipe(b)
	seed := bytes.TrimSpace(b)
	prefix, raw, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: key file %s does not hold %s", path, what)
	}
	wipe(raw)
	if prefix != want {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: key file %s holds an nkeys %s seed, not %s", path, prefix, what)
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: key file %s does not hold %s", path, what)
	}
	return kp, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
