package rollback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Snapshot is what a client remembers of one snapshot.
type Snapshot struct {
	ID   crypto.ID
	Host string
	Time time.Time
}

// Memory is one client's memory of one repository.
type Memory struct {
	// Seen are the snapshots listed at some point and not forgotten
	// since, by ID.
	Seen map[crypto.ID]Snapshot
	// Newest is the newest snapshot time seen per host.
	Newest map[string]time.Time
}

// Findings are what a listing contradicts in a Memory.
type Findings struct {
	// Missing were seen before, are not listed now, and no forgotten
	// record explains it: hidden by the storage, or rolled back.
	Missing []Snapshot
	// RolledBack names hosts whose newest listed snapshot is older than
	// the newest this client saw of them (the repository is an older
	// copy), with the time seen.
	RolledBack map[string]time.Time
}

// OK reports whether nothing is wrong.
func (f Findings) OK() bool { return len(f.Missing) == 0 }

// Compare checks a complete listing against m. forgotten holds the
// snapshots that forgotten records vouch for.
func (m *Memory) Compare(listed []Snapshot, forgotten map[crypto.ID]time.Time) Findings {
	now := make(map[crypto.ID]bool, len(listed))
	newest := make(map[string]time.Time)
	for _, s := range listed {
		now[s.ID] = true
		if s.Time.After(newest[s.Host]) {
			newest[s.Host] = s.Time
		}
	}
	var f Findings
	for id, s := range m.Seen {
		if now[id] {
			continue
		}
		if _, ok := forgotten[id]; ok {
			continue
		}
		f.Missing = append(f.Missing, s)
	}
	slices.SortFunc(f.Missing, func(a, b Snapshot) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	// A host counts as rolled back only when the snapshots that made its
	// newest time are missing, not when they were forgotten.
	for _, s := range f.Missing {
		if s.Time.After(newest[s.Host]) {
			if f.RolledBack == nil {
				f.RolledBack = make(map[string]time.Time)
			}
			if s.Time.After(f.RolledBack[s.Host]) {
				f.RolledBack[s.Host] = s.Time
			}
		}
	}
	return f
}

// Update records a complete listing: listed snapshots are remembered,
// forgotten ones let go. Missing ones stay remembered, so the warning
// repeats until the snapshot reappears or a forget vouches for it.
func (m *Memory) Update(listed []Snapshot, forgotten map[crypto.ID]time.Time) {
	if m.Seen == nil {
		m.Seen = make(map[crypto.ID]Snapshot)
	}
	if m.Newest == nil {
		m.Newest = make(map[string]time.Time)
	}
	for _, s := range listed {
		m.Seen[s.ID] = s
		if s.Time.After(m.Newest[s.Host]) {
			m.Newest[s.Host] = s.Time
		}
	}
	for id := range forgotten {
		delete(m.Seen, id)
	}
}

// Message renders findings as lines for stderr, naming the snapshots and
// saying what to do.
func (f Findings) Message() []string {
	if f.OK() {
		return nil
	}
	lines := []string{fmt.Sprintf("%d snapshot(s) this client has seen are gone, and no cairn forget removed them: the storage hides them or serves an older copy of the repository", len(f.Missing))}
	for _, s := range f.Missing {
		lines = append(lines, fmt.Sprintf("  missing snapshot %s (host %s, %s)", s.ID.Short(), s.Host, s.Time.Format(time.RFC3339)))
	}
	hosts := make([]string, 0, len(f.RolledBack))
	for h := range f.RolledBack {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		lines = append(lines, fmt.Sprintf("  host %s: the newest snapshot listed is older than the one seen from %s", h, f.RolledBack[h].Format(time.RFC3339)))
	}
	lines = append(lines, "  do not prune until this is explained; if the storage is a versioned bucket, cairn repair objects can bring hidden snapshots back; if they were removed on purpose by an older cairn, run cairn forget with their IDs to record it")
	return lines
}

// memoryFile is the on-disk form (IDs in hex).
type memoryFile struct {
	Version int                  `json:"version"`
	Seen    []snapshotFile       `json:"seen"`
	Newest  map[string]time.Time `json:"newest"`
}

type snapshotFile struct {
	ID   string    `json:"id"`
	Host string    `json:"host"`
	Time time.Time `json:"time"`
}

// fileName is the memory's file inside a repository's state directory.
const fileName = "snapshots-seen.json"

// Load reads the memory kept in dir; a missing file is an empty memory.
func Load(dir string) (*Memory, error) {
	m := &Memory{Seen: map[crypto.ID]Snapshot{}, Newest: map[string]time.Time{}}
	raw, err := os.ReadFile(filepath.Join(dir, fileName))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the snapshots this client has seen: %w", err)
	}
	var f memoryFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to start afresh; this client then forgets which snapshots it has seen)", filepath.Join(dir, fileName), err)
	}
	for _, s := range f.Seen {
		id, err := crypto.ParseID(s.ID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, fileName), err)
		}
		m.Seen[id] = Snapshot{ID: id, Host: s.Host, Time: s.Time}
	}
	for h, t := range f.Newest {
		m.Newest[h] = t
	}
	return m, nil
}

// Save writes the memory to dir atomically (temporary file and rename).
func (m *Memory) Save(dir string) error {
	f := memoryFile{Version: 1, Newest: m.Newest}
	for _, s := range m.Seen {
		f.Seen = append(f.Seen, snapshotFile{ID: s.ID.String(), Host: s.Host, Time: s.Time.UTC()})
	}
	slices.SortFunc(f.Seen, func(a, b snapshotFile) int { return bytes.Compare([]byte(a.ID), []byte(b.ID)) })
	raw, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save the snapshots this client has seen: %w", err)
	}
	tmp, err := os.CreateTemp(dir, fileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("save the snapshots this client has seen: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, fileName)); err != nil {
		return fmt.Errorf("save the snapshots this client has seen: %w", err)
	}
	return nil
}
