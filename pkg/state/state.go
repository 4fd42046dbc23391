package state

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// lastKeyFile is the file holding the ID of the key file that opened the
// repository last time.
const lastKeyFile = "last-key"

// regionFile holds the S3 region a location answered to last time.
const regionFile = "region"

// Base is the directory holding the state of every repository.
type Base string

// DefaultBase is $XDG_STATE_HOME/cairn, or ~/.local/state/cairn when
// XDG_STATE_HOME is unset or not absolute (as the XDG spec says).
func DefaultBase() (Base, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return Base(filepath.Join(dir, "cairn")), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w", err)
	}
	return Base(filepath.Join(home, ".local", "state", "cairn")), nil
}

// Repo is the state directory of one repository.
type Repo struct{ dir string }

// Repo returns the state of the repository with ID repoID (64 hex digits,
// from its config). Nothing is created until something is written.
func (b Base) Repo(repoID string) (*Repo, error) {
	if _, err := hex.DecodeString(repoID); err != nil || len(repoID) != 64 {
		return nil, fmt.Errorf("state: invalid repository ID %q", repoID)
	}
	return &Repo{dir: filepath.Join(string(b), repoID)}, nil
}

// Location returns the state of a repository location (its URL as the
// user gives it), for what is known before the repository is open: the key
// file that opened it last (LastKey, SetLastKey), which Open can then read
// at the same time as the config.
func (b Base) Location(url string) *Repo {
	sum := sha256.Sum256([]byte(url))
	return &Repo{dir: filepath.Join(string(b), "locations", hex.EncodeToString(sum[:16]))}
}

// LastKeys returns the key file that opened each repository in b last
// time. Key file IDs are hashes of their contents, so the one of this
// repository is among them and the others are not in its keys/: a client
// can try them first before it knows which repository it is opening (the
// repository ID is inside the encrypted config).
func (b Base) LastKeys() []crypto.ID {
	entries, err := os.ReadDir(string(b))
	if err != nil {
		return nil
	}
	var ids []crypto.ID
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := b.Repo(e.Name())
		if err != nil {
			continue // not a repository's directory
		}
		if id, ok := r.LastKey(); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// LastKey returns the key file that opened this repository last time, if
// it is known.
func (r *Repo) LastKey() (crypto.ID, bool) {
	b, err := os.ReadFile(filepath.Join(r.dir, lastKeyFile))
	if err != nil {
		return crypto.ID{}, false
	}
	id, err := crypto.ParseID(strings.TrimSpace(string(b)))
	return id, err == nil
}

// Region returns the S3 region recorded for a location (Base.Location),
// or "".
func (r *Repo) Region() string {
	b, err := os.ReadFile(filepath.Join(r.dir, regionFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// SetRegion records the S3 region a location answered to.
func (r *Repo) SetRegion(region string) error {
	if r.Region() == region {
		return nil
	}
	return r.write(regionFile, []byte(region+"\n"))
}

// SetLastKey records the key file that opened this repository.
func (r *Repo) SetLastKey(id crypto.ID) error {
	if old, ok := r.LastKey(); ok && old == id {
		return nil
	}
	return r.write(lastKeyFile, []byte(id.String()+"\n"))
}

// write replaces the file name in r's directory atomically.
func (r *Repo) write(name string, data []byte) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp, err := os.CreateTemp(r.dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(r.dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: write %s: %w", filepath.Join(r.dir, name), err)
	}
	return nil
}

// Dir is the repository's state directory, for packages that keep files
// of their own there (pkg/rollback). It may not exist yet.
func (r *Repo) Dir() string { return r.dir }
