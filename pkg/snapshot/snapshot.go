package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Version is the snapshot format version written by this package.
const Version = 1

// timeLayout is RFC 3339 with all nine digits of nanoseconds, so every
// snapshot time has one textual form.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

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

// Snapshot describes one backup (FORMAT.md section 8). Strings are JSON
// strings, so paths that are not valid UTF-8 are recorded with U+FFFD in
// place of the bad bytes; the tree itself keeps exact names.
type Snapshot struct {
	Version        int // 0 is written as Version
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
	// Original is the snapshot this one was made from, by cairn copy or
	// cairn tag: the first one of a chain (a copy of a copy names the
	// snapshot the first copy was made from). Zero for a backup.
	Original crypto.ID
	// OriginalRepo is the ID of the repository Original is in; "" means
	// this repository.
	OriginalRepo string
}

// Origin returns the snapshot s was first made as: Original when s is a
// copy or a retagged snapshot, else id, s's own ID. cairn copy skips a
// snapshot whose origin the destination already holds.
func (s *Snapshot) Origin(id crypto.ID) crypto.ID {
	if !s.Original.IsZero() {
		return s.Original
	}
	return id
}

// snapshotJSON is the stored form; IDs are hex strings because crypto.ID
// has no text encoding of its own.
type snapshotJSON struct {
	Version        int       `json:"version"`
	Time           string    `json:"time"`
	Host           string    `json:"host"`
	Username       string    `json:"username"`
	UID            uint32    `json:"uid"`
	GID            uint32    `json:"gid"`
	Paths          []string  `json:"paths"`
	Tags           []string  `json:"tags,omitempty"`
	Tree           []string  `json:"tree"`
	Parent         string    `json:"parent,omitempty"`
	Skipped        []Skipped `json:"skipped,omitempty"`
	Summary        Summary   `json:"summary"`
	ProgramVersion string    `json:"program_version"`
	Original       string    `json:"original,omitempty"`
	OriginalRepo   string    `json:"original_repo,omitempty"`
}

// Marshal encodes s as the JSON body of a snapshot object. The time is
// written in UTC with nanoseconds.
func (s *Snapshot) Marshal() ([]byte, error) {
	v := s.Version
	if v == 0 {
		v = Version
	}
	if v != Version {
		return nil, fmt.Errorf("marshal snapshot: version %d is not %d", v, Version)
	}
	if err := checkTime(s.Time); err != nil {
		return nil, fmt.Errorf("marshal snapshot: %w", err)
	}
	if len(s.Tree) == 0 {
		return nil, errors.New("marshal snapshot: no root tree")
	}
	j := snapshotJSON{
		Version:        v,
		Time:           s.Time.UTC().Format(timeLayout),
		Host:           s.Host,
		Username:       s.Username,
		UID:            s.UID,
		GID:            s.GID,
		Paths:          s.Paths,
		Tags:           s.Tags,
		Tree:           make([]string, len(s.Tree)),
		Skipped:        s.Skipped,
		Summary:        s.Summary,
		ProgramVersion: s.ProgramVersion,
		OriginalRepo:   s.OriginalRepo,
	}
	if !s.Original.IsZero() {
		j.Original = s.Original.String()
	}
	if j.Paths == nil {
		j.Paths = []string{}
	}
	for i, id := range s.Tree {
		j.Tree[i] = id.String()
	}
	if !s.Parent.IsZero() {
		j.Parent = s.Parent.String()
	}
	out, err := json.Marshal(&j)
	if err != nil {
		return nil, fmt.Errorf("marshal snapshot: %w", err)
	}
	return out, nil
}

// checkTime rejects times that RFC 3339 cannot express.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %v: year outside 0-9999", t)
	}
	return nil
}

// UnmarshalSnapshot decodes and checks the JSON body of a snapshot object.
// Unknown fields are ignored (later format additions); a version other than
// 1, a bad time or ID, or an empty tree list is an error.
func UnmarshalSnapshot(body []byte) (*Snapshot, error) {
	var j snapshotJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	switch {
	case j.Version == 0:
		return nil, errors.New("decode snapshot: no version")
	case j.Version > Version:
		return nil, fmt.Errorf("decode snapshot: version %d is newer than this cairn supports (%d); upgrade cairn", j.Version, Version)
	case j.Version != Version:
		return nil, fmt.Errorf("decode snapshot: unknown version %d", j.Version)
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return nil, fmt.Errorf("decode snapshot: time: %w", err)
	}
	if err := checkTime(t); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if len(j.Tree) == 0 {
		return nil, errors.New("decode snapshot: no root tree")
	}
	s := &Snapshot{
		Version:        j.Version,
		Time:           t.UTC(),
		Host:           j.Host,
		Username:       j.Username,
		UID:            j.UID,
		GID:            j.GID,
		Paths:          j.Paths,
		Tags:           j.Tags,
		Tree:           make([]crypto.ID, len(j.Tree)),
		Skipped:        j.Skipped,
		Summary:        j.Summary,
		ProgramVersion: j.ProgramVersion,
		OriginalRepo:   j.OriginalRepo,
	}
	if j.Original != "" {
		if s.Original, err = crypto.ParseID(j.Original); err != nil {
			return nil, fmt.Errorf("decode snapshot: original: %w", err)
		}
	}
	for i, h := range j.Tree {
		if s.Tree[i], err = crypto.ParseID(h); err != nil {
			return nil, fmt.Errorf("decode snapshot: tree: %w", err)
		}
	}
	if j.Parent != "" {
		if s.Parent, err = crypto.ParseID(j.Parent); err != nil {
			return nil, fmt.Errorf("decode snapshot: parent: %w", err)
		}
	}
	return s, nil
}
