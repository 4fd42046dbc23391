package rollback

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func snap(b byte, host string, day int) Snapshot {
	return Snapshot{ID: crypto.ID{b}, Host: host, Time: time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC)}
}

func TestCompare(t *testing.T) {
	a1, a2, a3 := snap(1, "a", 1), snap(2, "a", 2), snap(3, "a", 3)
	b1 := snap(4, "b", 1)
	m := &Memory{}
	m.Update([]Snapshot{a1, a2, a3, b1}, nil)

	// Everything still there.
	if f := m.Compare([]Snapshot{a1, a2, a3, b1}, nil); !f.OK() {
		t.Fatalf("complete listing: %+v", f)
	}
	// The newest is hidden: missing, and host a rolled back.
	f := m.Compare([]Snapshot{a1, a2, b1}, nil)
	if len(f.Missing) != 1 || f.Missing[0].ID != a3.ID || !f.RolledBack["a"].Equal(a3.Time) {
		t.Fatalf("hidden newest: %+v", f)
	}
	if len(f.Message()) < 2 {
		t.Fatalf("message: %q", f.Message())
	}
	// A middle one hidden: missing, no rollback of the host.
	f = m.Compare([]Snapshot{a1, a3, b1}, nil)
	if len(f.Missing) != 1 || f.Missing[0].ID != a2.ID || len(f.RolledBack) != 0 {
		t.Fatalf("hidden middle: %+v", f)
	}
	// Forgotten on another client: not reported, and let go.
	forgotten := map[crypto.ID]time.Time{a3.ID: a3.Time}
	if f := m.Compare([]Snapshot{a1, a2, b1}, forgotten); !f.OK() {
		t.Fatalf("forgotten newest reported: %+v", f)
	}
	m.Update([]Snapshot{a1, a2, b1}, forgotten)
	if _, ok := m.Seen[a3.ID]; ok {
		t.Fatal("forgotten snapshot still remembered")
	}
	// Missing ones stay remembered until explained.
	m.Update([]Snapshot{a1, b1}, nil)
	if f := m.Compare([]Snapshot{a1, b1}, nil); len(f.Missing) != 1 || f.Missing[0].ID != a2.ID {
		t.Fatalf("a missing snapshot was forgotten by Update: %+v", f)
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(dir)
	if err != nil || len(m.Seen) != 0 {
		t.Fatalf("empty: %+v %v", m, err)
	}
	m.Update([]Snapshot{snap(1, "a", 1), snap(2, "b", 2)}, nil)
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Seen) != 2 || !got.Newest["b"].Equal(snap(2, "b", 2).Time) || got.Seen[crypto.ID{1}].Host != "a" {
		t.Fatalf("round trip: %+v", got)
	}
}
