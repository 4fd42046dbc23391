package snapshot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// memObjects is an in-memory ObjectStore. put stores a snapshot under a
// chosen ID so tests can arrange prefix collisions.
type memObjects struct {
	mu      sync.Mutex
	objects map[crypto.ID][]byte
	extra   []crypto.ID // listed but missing, as after a concurrent forget
	active  atomic.Int32
	maxSeen atomic.Int32
}

func newMemObjects() *memObjects { return &memObjects{objects: map[crypto.ID][]byte{}} }

func (m *memObjects) ListObjects(ctx context.Context, kind string) ([]crypto.ID, error) {
	if kind != ObjectKind {
		return nil, fmt.Errorf("kind %q", kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := append([]crypto.ID(nil), m.extra...)
	for id := range m.objects {
		ids = append(ids, id)
	}
	return ids, nil
}

func (m *memObjects) LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error) {
	n := m.active.Add(1)
	defer m.active.Add(-1)
	for {
		old := m.maxSeen.Load()
		if n <= old || m.maxSeen.CompareAndSwap(old, n) {
			break
		}
	}
	time.Sleep(time.Millisecond) // let loads overlap
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[id]
	if !ok || kind != ObjectKind {
		return nil, fmt.Errorf("snapshots/%s: %w", id, storage.ErrNotFound)
	}
	return b, nil
}

func (m *memObjects) SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error) {
	id := crypto.ID(sha256.Sum256(body))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[id] = body
	return id, nil
}

func (m *memObjects) put(t *testing.T, id string, s *Snapshot) crypto.ID {
	t.Helper()
	full, err := crypto.ParseID(id + strings.Repeat("0", 64-len(id)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.objects[full] = body
	return full
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func snap(hour int, host string, paths []string, tags ...string) *Snapshot {
	return &Snapshot{Version: 1, Time: t0.Add(time.Duration(hour) * time.Hour), Host: host, Paths: paths, Tags: tags, Tree: []crypto.ID{testID(1)}}
}

// fixture: five snapshots; IDs ab12…, ab34…, cd…, ef…, 12….
func fixture(t *testing.T) (*memObjects, map[string]crypto.ID) {
	m := newMemObjects()
	docs := []string{"/home/alice/docs"}
	ids := map[string]crypto.ID{
		"ab12": m.put(t, "ab12", snap(1, "laptop", docs, "nightly")),
		"ab34": m.put(t, "ab34", snap(5, "laptop", docs, "nightly", "weekly")),
		"cd":   m.put(t, "cd", snap(3, "server", []string{"/etc", "/srv"}, "weekly")),
		"ef":   m.put(t, "ef", snap(4, "laptop", []string{"/home/alice"})),
		"12":   m.put(t, "12", snap(2, "server", []string{"/srv", "/etc/"}, "nightly")),
	}
	return m, ids
}

func TestFindByID(t *testing.T) {
	m, ids := fixture(t)
	ctx := context.Background()
	for ref, want := range map[string]string{
		ids["cd"].String(): "cd",
		"ab1":              "ab12",
		"AB3":              "ab34",
		"c":                "cd",
		"e":                "ef",
		"1":                "12",
		"ab120":            "ab12",
	} {
		e, err := Find(ctx, m, ref, Filter{})
		if err != nil {
			t.Errorf("Find(%q): %v", ref, err)
			continue
		}
		if e.ID != ids[want] || e.Snapshot == nil {
			t.Errorf("Find(%q) = %s, want %s", ref, e.ID.Short(), want)
		}
	}

	_, err := Find(ctx, m, "ab", Filter{})
	if !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("Find(ab) error = %v, want ErrAmbiguous", err)
	}
	for _, id := range []crypto.ID{ids["ab12"], ids["ab34"]} {
		if !strings.Contains(err.Error(), id.String()) {
			t.Errorf("ambiguity error does not name candidate %s: %v", id.Short(), err)
		}
	}

	for _, ref := range []string{"ff", "ab5", strings.Repeat("9", 64), "", "xyz", "ab-1", strings.Repeat("a", 65)} {
		if _, err := Find(ctx, m, ref, Filter{}); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("Find(%q) error = %v, want ErrSnapshotNotFound", ref, err)
		}
	}
	// An explicit ID that does not match the filter is an error too.
	if _, err := Find(ctx, m, "cd", Filter{Hosts: []string{"laptop"}}); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Find(cd, host laptop) error = %v", err)
	}
}

func TestFindLatest(t *testing.T) {
	m, ids := fixture(t)
	ctx := context.Background()
	tests := []struct {
		filter Filter
		want   string
	}{
		{Filter{}, "ab34"},
		{Filter{Hosts: []string{"server"}}, "cd"},
		{Filter{Hosts: []string{"server", "nas"}}, "cd"},
		{Filter{Tags: []string{"nightly"}}, "ab34"},
		{Filter{Tags: []string{"nightly"}, Hosts: []string{"server"}}, "12"},
		{Filter{Tags: []string{"weekly", "nightly"}}, "ab34"},
		{Filter{Paths: []string{"/home/alice"}}, "ef"},
		{Filter{Paths: []string{"/srv", "/etc"}}, "cd"},
		{Filter{Paths: []string{"/etc", "/srv/", "/etc"}, Tags: []string{"nightly"}}, "12"},
	}
	for _, tt := range tests {
		e, err := Find(ctx, m, "latest", tt.filter)
		if err != nil {
			t.Errorf("latest %v: %v", tt.filter, err)
			continue
		}
		if e.ID != ids[tt.want] {
			t.Errorf("latest %v = %s, want %s", tt.filter, e.ID.Short(), tt.want)
		}
	}
	for _, f := range []Filter{
		{Hosts: []string{"nas"}},
		{Tags: []string{"weekly", "monthly"}},
		{Paths: []string{"/etc"}},
		{Hosts: []string{"laptop"}, Paths: []string{"/etc", "/srv"}},
	} {
		if _, err := Find(ctx, m, "latest", f); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("latest %v error = %v", f, err)
		}
	}
	if _, err := Find(ctx, newMemObjects(), "latest", Filter{}); !errors.Is(err, ErrSnapshotNotFound) || !strings.Contains(err.Error(), "no snapshots") {
		t.Errorf("latest in empty repository: %v", err)
	}
}

func TestListAndSave(t *testing.T) {
	m, ids := fixture(t)
	ctx := context.Background()
	m.extra = []crypto.ID{testID(0x77)} // listed, then gone
	saved, err := Save(ctx, m, snap(0, "nas", []string{"/"}))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := List(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	var order []crypto.ID
	for _, e := range entries {
		order = append(order, e.ID)
	}
	want := []crypto.ID{saved, ids["ab12"], ids["12"], ids["cd"], ids["ef"], ids["ab34"]}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("List order wrong")
	}
	if n := m.maxSeen.Load(); n > loadConcurrency {
		t.Errorf("%d concurrent loads, limit %d", n, loadConcurrency)
	}

	m.objects[testID(0x66)] = []byte(`{"version":1}`)
	if _, err := List(ctx, m); err == nil || !strings.Contains(err.Error(), testID(0x66).String()) {
		t.Errorf("List with a corrupt snapshot: %v", err)
	}
}

func TestListConcurrency(t *testing.T) {
	m := newMemObjects()
	for i := range 40 {
		m.put(t, fmt.Sprintf("%02x", i), snap(i, "h", nil))
	}
	entries, err := List(context.Background(), m)
	if err != nil || len(entries) != 40 {
		t.Fatalf("List: %d, %v", len(entries), err)
	}
	if n := m.maxSeen.Load(); n > loadConcurrency || n < 2 {
		t.Errorf("max concurrent loads %d, want 2..%d", n, loadConcurrency)
	}
}

func TestFindParent(t *testing.T) {
	m, ids := fixture(t)
	ctx := context.Background()
	e, err := FindParent(ctx, m, "laptop", []string{"/home/alice/docs"})
	if err != nil || e == nil || e.ID != ids["ab34"] {
		t.Fatalf("FindParent = %v, %v", e, err)
	}
	e, err = FindParent(ctx, m, "server", []string{"/etc", "/srv"})
	if err != nil || e == nil || e.ID != ids["cd"] {
		t.Fatalf("FindParent(server) = %v, %v", e, err)
	}
	for _, q := range []struct {
		host  string
		paths []string
	}{{"laptop", []string{"/etc", "/srv"}}, {"nas", []string{"/home/alice/docs"}}, {"laptop", nil}} {
		if e, err := FindParent(ctx, m, q.host, q.paths); err != nil || e != nil {
			t.Errorf("FindParent(%v) = %v, %v; want nil", q, e, err)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	s := snap(0, "laptop", []string{"/b", "/a"}, "x", "y")
	cases := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Tags: []string{"x", "y"}}, true},
		{Filter{Tags: []string{"x", "z"}}, false},
		{Filter{Paths: []string{"/a"}}, false},
		{Filter{Paths: []string{"/a/", "/b"}}, true},
		{Filter{Paths: []string{"/a", "/b", "/c"}}, false},
		{Filter{Hosts: []string{"desktop", "laptop"}}, true},
		{Filter{Hosts: []string{"desktop"}}, false},
	}
	for _, c := range cases {
		if got := c.f.Match(s); got != c.want {
			t.Errorf("%v.Match = %v, want %v", c.f, got, c.want)
		}
	}
}
