package fault_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

func TestConformanceWithoutFaults(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return fault.New(mem.New()) })
}

// TestConformanceWithHarmlessFaults checks that faults aimed elsewhere leave
// the wrapper transparent.
func TestConformanceWithHarmlessFaults(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store {
		s := fault.New(mem.New())
		s.FailPrefix("", "elsewhere/", nil)
		s.ShortRead("elsewhere/", 1)
		s.Corrupt("elsewhere/", 0)
		return s
	})
}

func put(t *testing.T, s storage.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), name, data); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

func read(t *testing.T, s storage.Store, name string, offset, length int64) ([]byte, error) {
	rc, err := s.Get(t.Context(), name, offset, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestFailNth(t *testing.T) {
	s := fault.New(mem.New())
	boom := errors.New("boom")
	s.FailNth(fault.OpPut, 3, boom)
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("data/%d", i)
		err := s.Put(t.Context(), name, []byte("x"))
		if i == 3 {
			if !errors.Is(err, boom) {
				t.Errorf("put %d: %v, want boom", i, err)
			}
			if _, err := s.Stat(t.Context(), name); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("failed put stored the object anyway (stat: %v)", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	}
	if got := s.Calls(fault.OpPut); got != 5 {
		t.Errorf("Calls(put) = %d, want 5", got)
	}
	if got := s.Calls(fault.OpStat); got != 1 {
		t.Errorf("Calls(stat) = %d, want 1", got)
	}
}

func TestFailPrefixAndDefaultError(t *testing.T) {
	s := fault.New(mem.New())
	put(t, s, "data/a", []byte("a"))
	put(t, s, "index/b", []byte("b"))
	s.FailPrefix(fault.OpGet, "data/", nil)
	s.FailPrefix(fault.OpList, "index/", storage.ErrTransient)

	if _, err := read(t, s, "data/a", 0, -1); !errors.Is(err, fault.ErrInjected) {
		t.Errorf("Get(data/a): %v, want ErrInjected", err)
	}
	if _, err := read(t, s, "index/b", 0, -1); err != nil {
		t.Errorf("Get(index/b): %v", err)
	}
	noop := func(storage.ObjectInfo) error { return nil }
	if err := s.List(t.Context(), "index/", noop); !errors.Is(err, storage.ErrTransient) {
		t.Errorf("List(index/): %v, want ErrTransient", err)
	}
	if err := s.List(t.Context(), "", noop); err != nil {
		t.Errorf("List(\"\") is not covered by the index/ rule: %v", err)
	}

	s.Clear()
	if _, err := read(t, s, "data/a", 0, -1); err != nil {
		t.Errorf("Get after Clear: %v", err)
	}
}

func TestAfterInner(t *testing.T) {
	ctx := t.Context()
	s := fault.New(mem.New())
	lost := errors.New("response lost")
	s.Add(fault.Rule{Op: fault.OpPut, Nth: 1, AfterInner: true, Err: lost})
	s.Add(fault.Rule{Op: fault.OpDelete, AfterInner: true, Err: lost})
	if err := s.Put(ctx, "keys/k", []byte("key")); !errors.Is(err, lost) {
		t.Fatalf("Put: %v, want the injected error", err)
	}
	if got, err := read(t, s, "keys/k", 0, -1); err != nil || string(got) != "key" {
		t.Errorf("object after a put whose response was lost: %q, %v; want it stored", got, err)
	}
	if err := s.Delete(ctx, "keys/k"); !errors.Is(err, lost) {
		t.Fatalf("Delete: %v, want the injected error", err)
	}
	if _, err := s.Stat(ctx, "keys/k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("object after a delete whose response was lost: %v, want it gone", err)
	}
}

func TestProbabilityIsSeeded(t *testing.T) {
	pattern := func(seed uint64) []bool {
		s := fault.New(mem.New())
		s.Seed(seed)
		s.Add(fault.Rule{Op: fault.OpStat, Probability: 0.3})
		var out []bool
		for range 200 {
			_, err := s.Stat(t.Context(), "x")
			out = append(out, errors.Is(err, fault.ErrInjected))
		}
		return out
	}
	a, b, c := pattern(42), pattern(42), pattern(43)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different failure patterns")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same failure pattern")
	}
	failures := 0
	for _, f := range a {
		if f {
			failures++
		}
	}
	if failures < 30 || failures > 90 {
		t.Errorf("%d of 200 calls failed with probability 0.3", failures)
	}
}

func TestShortRead(t *testing.T) {
	s := fault.New(mem.New())
	data := bytes.Repeat([]byte("0123456789"), 100)
	put(t, s, "data/pack", data)
	put(t, s, "index/i", data)
	s.ShortRead("data/", 100)

	tests := []struct {
		offset, length int64
		want           []byte
		wantErr        error
	}{
		{0, -1, data[:100], io.ErrUnexpectedEOF},
		{50, -1, data[50:150], io.ErrUnexpectedEOF},
		{0, 100, data[:100], nil},  // fits: intact
		{950, -1, data[950:], nil}, // only 50 bytes left: intact
		{0, 101, data[:100], io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		got, err := read(t, s, "data/pack", tc.offset, tc.length)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Get(%d, %d): error %v, want %v", tc.offset, tc.length, err, tc.wantErr)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("Get(%d, %d): got %d bytes, want %d", tc.offset, tc.length, len(got), len(tc.want))
		}
	}
	if got, err := read(t, s, "index/i", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("unaffected object: %d bytes, %v", len(got), err)
	}
}

func TestCorrupt(t *testing.T) {
	s := fault.New(mem.New())
	data := bytes.Repeat([]byte{0x0f}, 1000)
	put(t, s, "data/pack", data)
	s.Corrupt("data/", 500)

	flipped := bytes.Clone(data)
	flipped[500] ^= 0xff
	tests := []struct {
		offset, length int64
		want           []byte
	}{
		{0, -1, flipped},
		{400, 200, flipped[400:600]},
		{500, 1, flipped[500:501]},
		{0, 500, data[:500]},  // ends just before the bad byte
		{501, -1, data[501:]}, // starts just after it
	}
	for _, tc := range tests {
		got, err := read(t, s, "data/pack", tc.offset, tc.length)
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", tc.offset, tc.length, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("Get(%d, %d): wrong content", tc.offset, tc.length)
		}
	}
	// The stored object itself is intact: reads are damaged, not writes.
	s.Clear()
	if got, _ := read(t, s, "data/pack", 0, -1); !bytes.Equal(got, data) {
		t.Error("Corrupt changed the stored object")
	}
}

func TestCapabilitiesAreKept(t *testing.T) {
	storagetest.CheckCapabilities(t, func(inner storage.Store) storage.Store { return fault.New(inner) })
}
