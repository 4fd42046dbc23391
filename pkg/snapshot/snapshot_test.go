package snapshot

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func sampleSnapshot() *Snapshot {
	return &Snapshot{
		Version:  1,
		Time:     time.Date(2026, 11, 25, 13, 4, 5, 123456789, time.FixedZone("CET", 3600)),
		Host:     "laptop",
		Username: "alice",
		UID:      1000, GID: 1000,
		Paths:   []string{"/home/alice/docs", "/etc"},
		Tags:    []string{"nightly", "weekly"},
		Tree:    []crypto.ID{testID(0xaa), testID(0xbb)},
		Parent:  testID(0xcc),
		Skipped: []Skipped{{Path: "/home/alice/docs/locked", Error: "permission denied"}},
		Summary: Summary{
			FilesNew: 1, FilesChanged: 2, FilesUnchanged: 3, Dirs: 4,
			BytesRead: 5, BytesAdded: 6, BytesStored: 7, DurationNS: 8,
		},
		ProgramVersion: "cairn 0.1.0",
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := sampleSnapshot()
	body, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalSnapshot(body)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(s.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", got.Time, s.Time)
	}
	want := *s
	want.Time = s.Time.UTC()
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
	}
}

// TestSnapshotJSONFields pins the field names and forms of FORMAT.md
// section 8.
func TestSnapshotJSONFields(t *testing.T) {
	body, err := sampleSnapshot().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"gid", "host", "parent", "paths", "program_version", "skipped", "summary", "tags", "time", "tree", "uid", "username", "version"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if m["time"] != "2026-11-25T12:04:05.123456789Z" {
		t.Errorf("time = %v", m["time"])
	}
	if m["parent"] != strings.Repeat("cc", 32) {
		t.Errorf("parent = %v", m["parent"])
	}
	if tree := m["tree"].([]any); len(tree) != 2 || tree[0] != strings.Repeat("aa", 32) {
		t.Errorf("tree = %v", tree)
	}
	sum := m["summary"].(map[string]any)
	for _, k := range []string{"files_new", "files_changed", "files_unchanged", "dirs", "bytes_read", "bytes_added", "bytes_stored", "duration_ns"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary has no %q", k)
		}
	}
	if skipped := m["skipped"].([]any)[0].(map[string]any); skipped["path"] != "/home/alice/docs/locked" || skipped["error"] != "permission denied" {
		t.Errorf("skipped = %v", skipped)
	}
}

func TestSnapshotOmitsZeroParent(t *testing.T) {
	s := sampleSnapshot()
	s.Parent = crypto.ID{}
	s.Version = 0 // written as the current version
	s.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "parent") {
		t.Errorf("zero parent written: %s", body)
	}
	if !strings.Contains(string(body), `"version":1`) || !strings.Contains(string(body), `"2026-01-02T03:04:05.000000000Z"`) {
		t.Errorf("body %s", body)
	}
	got, err := UnmarshalSnapshot(body)
	if err != nil || !got.Parent.IsZero() {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestSnapshotMarshalRejects(t *testing.T) {
	for name, mod := range map[string]func(*Snapshot){
		"no tree":    func(s *Snapshot) { s.Tree = nil },
		"version 2":  func(s *Snapshot) { s.Version = 2 },
		"year 10000": func(s *Snapshot) { s.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		s := sampleSnapshot()
		mod(s)
		if _, err := s.Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded", name)
		}
	}
}

func TestUnmarshalSnapshot(t *testing.T) {
	tree := `"tree":["` + strings.Repeat("ab", 32) + `"]`
	good := `{"version":1,"time":"2026-11-25T12:00:00Z",` + tree + `,"paths":["/"],"new_field":{"x":1}}`
	s, err := UnmarshalSnapshot([]byte(good))
	if err != nil {
		t.Fatalf("unknown field not ignored: %v", err)
	}
	if s.Tree[0] != testID(0xab) || s.Time.Location() != time.UTC {
		t.Errorf("got %+v", s)
	}
	bad := map[string]string{
		"not JSON":      `{"version":1`,
		"no version":    `{"time":"2026-11-25T12:00:00Z",` + tree + `}`,
		"version 2":     `{"version":2,"time":"2026-11-25T12:00:00Z",` + tree + `}`,
		"version -1":    `{"version":-1,"time":"2026-11-25T12:00:00Z",` + tree + `}`,
		"no time":       `{"version":1,` + tree + `}`,
		"bad time":      `{"version":1,"time":"yesterday",` + tree + `}`,
		"year -1 UTC":   `{"version":1,"time":"0000-01-01T00:00:00+01:00",` + tree + `}`,
		"no tree":       `{"version":1,"time":"2026-11-25T12:00:00Z"}`,
		"empty tree":    `{"version":1,"time":"2026-11-25T12:00:00Z","tree":[]}`,
		"short tree ID": `{"version":1,"time":"2026-11-25T12:00:00Z","tree":["abcd"]}`,
		"bad parent":    `{"version":1,"time":"2026-11-25T12:00:00Z",` + tree + `,"parent":"xyz"}`,
		"uid negative":  `{"version":1,"time":"2026-11-25T12:00:00Z",` + tree + `,"uid":-1}`,
	}
	for name, body := range bad {
		if s, err := UnmarshalSnapshot([]byte(body)); err == nil {
			t.Errorf("%s: accepted as %+v", name, s)
		}
	}
}
