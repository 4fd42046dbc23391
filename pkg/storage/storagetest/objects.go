package storagetest

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func testRoundTrip(t *testing.T, s storage.Store, root string) {
	sizes := []int{0, 1, 2, 1000, 64<<10 + 7, 5<<20 + 3}
	for i, size := range sizes {
		name := fmt.Sprintf("%s/data/obj-%d", root, size)
		want := payload(uint64(i), size)
		mustPut(t, s, name, want)
		checkContent(t, name, mustRead(t, s, name, 0, -1), want)

		fi, err := s.Stat(t.Context(), name)
		if err != nil {
			t.Fatalf("Stat(%q): %v", name, err)
		}
		if fi.Size != int64(size) {
			t.Errorf("Stat(%q).Size = %d, want %d", name, fi.Size, size)
		}
	}
}

func testPutDoesNotRetain(t *testing.T, s storage.Store, root string) {
	name := root + "/keys/k1"
	data := []byte("original content")
	want := append([]byte(nil), data...)
	mustPut(t, s, name, data)
	for i := range data {
		data[i] = 'x'
	}
	checkContent(t, "object after caller reused its buffer", mustRead(t, s, name, 0, -1), want)
}

// testPutNeverReplaces checks the create-only rule: a Put of an existing
// name fails with ErrExists and leaves the object exactly as it was,
// whatever the new data (longer, shorter, empty, identical).
func testPutNeverReplaces(t *testing.T, s storage.Store, root string) {
	ctx := t.Context()
	name := root + "/index/first"
	original := payload(1, 10_000)
	mustPut(t, s, name, original)
	attempts := [][]byte{
		payload(2, 100_000), // longer
		[]byte("x"),         // shorter
		{},                  // empty
		original,            // the same bytes
	}
	for i, data := range attempts {
		if err := s.Put(ctx, name, data); !errors.Is(err, storage.ErrExists) {
			t.Errorf("Put %d over an existing object: got %v, want an error wrapping storage.ErrExists", i, err)
		}
		checkContent(t, fmt.Sprintf("object after refused Put %d", i), mustRead(t, s, name, 0, -1), original)
		fi, err := s.Stat(ctx, name)
		if err != nil {
			t.Fatalf("Stat after refused Put %d: %v", i, err)
		}
		if fi.Size != int64(len(original)) {
			t.Errorf("Stat after refused Put %d: size %d, want %d", i, fi.Size, len(original))
		}
	}
	empty := root + "/index/empty"
	mustPut(t, s, empty, nil)
	if err := s.Put(ctx, empty, []byte("not empty")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Put over an existing empty object: got %v, want storage.ErrExists", err)
	}
	checkContent(t, "empty object after refused Put", mustRead(t, s, empty, 0, -1), []byte{})
	if got := listNames(t, s, root+"/"); len(got) != 2 || got[0] != empty || got[1] != name {
		t.Errorf("List after refused Puts = %q, want only %q and %q", got, empty, name)
	}
}

func testRangedGet(t *testing.T, s storage.Store, root string) {
	const size = 1000
	name := root + "/data/ranged"
	data := payload(7, size)
	mustPut(t, s, name, data)
	tests := []struct {
		offset, length int64
		want           []byte
	}{
		{0, -1, data},
		{0, size, data},
		{1, -1, data[1:]},
		{10, 20, data[10:30]},
		{10, 0, []byte{}},
		{0, 1, data[:1]},
		{size - 1, -1, data[size-1:]},
		{size - 1, 1, data[size-1:]},
		{990, 100, data[990:]}, // range past the end is truncated
		{0, 5 * size, data},    // length far past the end
		{size, -1, []byte{}},   // offset at the end: empty
		{size, 10, []byte{}},   // offset at the end with a length: empty
		{500, 1 << 40, data[500:]},
	}
	for _, tc := range tests {
		got := mustRead(t, s, name, tc.offset, tc.length)
		checkContent(t, fmt.Sprintf("Get(offset %d, length %d)", tc.offset, tc.length), got, tc.want)
		checkSized(t, s, name, tc.offset, tc.length, int64(len(tc.want)))
	}

	empty := root + "/data/empty"
	mustPut(t, s, empty, nil)
	checkContent(t, "Get(empty, 0, -1)", mustRead(t, s, empty, 0, -1), []byte{})
	checkContent(t, "Get(empty, 0, 10)", mustRead(t, s, empty, 0, 10), []byte{})
}

func testStat(t *testing.T, s storage.Store, root string) {
	name := root + "/snapshots/s1"
	mustPut(t, s, name, payload(3, 4321))
	fi, err := s.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if fi.Name != name {
		t.Errorf("Stat(%q).Name = %q", name, fi.Name)
	}
	if fi.Size != 4321 {
		t.Errorf("Stat(%q).Size = %d, want 4321", name, fi.Size)
	}
	if fi.ModTime.IsZero() {
		t.Errorf("Stat(%q).ModTime is zero", name)
	}
}

func testMissing(t *testing.T, s storage.Store, root string) {
	wantNotFound(t, s, root+"/data/never-written")
	wantNotFound(t, s, root+"/never/written/either")
	mustPut(t, s, root+"/data/present", []byte("here"))
	wantNotFound(t, s, root+"/data/presen")      // a prefix of an existing name
	wantNotFound(t, s, root+"/data/present.x")   // an extension of it
	wantNotFound(t, s, root+"/data/present/sub") // below it
	if _, err := readRange(t.Context(), s, root+"/data/never-written", 2, 5); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ranged Get of missing object: got %v, want storage.ErrNotFound", err)
	}
}

// testDirectoryIsNotObject checks that a name that is only a prefix of other
// names ("a directory" on a file system) behaves as a missing object.
func testDirectoryIsNotObject(t *testing.T, s storage.Store, root string) {
	dir := root + "/data/ab"
	obj := dir + "/abcdef"
	mustPut(t, s, obj, []byte("inside"))
	wantNotFound(t, s, dir)
	wantNotFound(t, s, root+"/data")
	if err := s.Delete(t.Context(), dir); err != nil {
		t.Errorf("Delete(%q) of a directory-like prefix: %v, want nil", dir, err)
	}
	checkContent(t, "object after deleting its directory name", mustRead(t, s, obj, 0, -1), []byte("inside"))
	if got := listNames(t, s, dir); len(got) != 1 || got[0] != obj {
		t.Errorf("List(%q) = %q, want [%q]", dir, got, obj)
	}
}

func testDelete(t *testing.T, s storage.Store, root string) {
	ctx := t.Context()
	name := root + "/locks/l1"
	keep := root + "/locks/l2"
	mustPut(t, s, name, []byte("lock"))
	mustPut(t, s, keep, []byte("other lock"))
	if err := s.Delete(ctx, name); err != nil {
		t.Fatalf("Delete(%q): %v", name, err)
	}
	wantNotFound(t, s, name)
	if got := listNames(t, s, root+"/"); len(got) != 1 || got[0] != keep {
		t.Errorf("List after Delete = %q, want [%q]", got, keep)
	}
	if err := s.Delete(ctx, name); err != nil {
		t.Errorf("second Delete(%q): %v, want nil", name, err)
	}
	if err := s.Delete(ctx, root+"/locks/never-existed"); err != nil {
		t.Errorf("Delete of a never-written object: %v, want nil", err)
	}
	if err := s.Delete(ctx, root+"/no/such/dir/obj"); err != nil {
		t.Errorf("Delete below a missing directory: %v, want nil", err)
	}
	checkContent(t, "untouched object", mustRead(t, s, keep, 0, -1), []byte("other lock"))

	// A deleted name can be written again.
	mustPut(t, s, name, []byte("again"))
	checkContent(t, "re-put after delete", mustRead(t, s, name, 0, -1), []byte("again"))
}

// checkSized checks a reader that reports its length (storage.Sized)
// before and after reading: repo refuses oversized objects by it.
func checkSized(t *testing.T, s storage.Store, name string, offset, length, want int64) {
	t.Helper()
	if length == 0 {
		return // no request is sent for an empty range
	}
	rc, err := s.Get(t.Context(), name, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, offset, length, err)
	}
	defer rc.Close()
	sz, ok := rc.(storage.Sized)
	if !ok {
		return
	}
	if got := sz.Remaining(); got != want && got != -1 {
		t.Errorf("Get(%q, %d, %d): Remaining() = %d before reading, want %d (or -1)", name, offset, length, got, want)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", name, offset, length, err)
	}
	if got := sz.Remaining(); got > 0 {
		t.Errorf("Get(%q, %d, %d): Remaining() = %d after reading everything", name, offset, length, got)
	}
}
