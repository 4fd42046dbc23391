package snapshot

import (
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Version is the snapshot format version written by this package.
const Version = 1

// Skipped records a path the backup could not or would not store.
type Skipped struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Summary holds a backup's statistics.
type Summary struct {
	FilesNew       uint64 `json:"files_new"`
	FilesChanged   uint64 `json:"files_changed"`
	FilesUnchanged uint64 `json:"files_unchanged"`
	Dirs           uint64 `json:"dirs"`
	BytesRead      uint64 `json:"bytes_read"`
	BytesAdded     uint64 `json:"bytes_added"`
	BytesStored    uint64 `json:"bytes_stored"`
	DurationNS     int64  `json:"duration_ns"`
}

// Snapshot describes one backup (FORMAT.md section 8).
type Snapshot struct {
	Version        int
	Time           time.Time
	Host           string
	Username       string
	UID, GID       uint32
	Paths          []string
	Tags           []string
	Tree           []crypto.ID // run blobs of the root directory
	Parent         crypto.ID   // zero when there is none
	Skipped        []Skipped
	Summary        Summary
	ProgramVersion string
}

// Marshal encodes s as the JSON body of a snapshot object.
func (s *Snapshot) Marshal() ([]byte, error) {
	panic("unimplemented")
}

// UnmarshalSnapshot decodes and checks the JSON body of a snapshot object.
func UnmarshalSnapshot(body []byte) (*Snapshot, error) {
	panic("unimplemented")
}
