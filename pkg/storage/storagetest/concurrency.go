package storagetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func testConcurrentPuts(t *testing.T, s storage.Store, root string) {
	const (
		writers   = 8
		perWriter = 24
	)
	name := func(w, i int) string {
		// Spread over a few "directories" so that backends creating
		// directories on demand race on creating the same one.
		return fmt.Sprintf("%s/data/%02x/w%d-%03d", root, i%4, w, i)
	}
	content := func(w, i int) []byte { return payload(uint64(w*1000+i), 100+(w*perWriter+i)*37%4000) }

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Put(t.Context(), name(w, i), content(w, i)); err != nil {
					t.Errorf("Put(%q): %v", name(w, i), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	got := listNames(t, s, root+"/")
	if len(got) != writers*perWriter {
		t.Errorf("List after concurrent puts found %d objects, want %d", len(got), writers*perWriter)
	}
	for w := range writers {
		for i := range perWriter {
			checkContent(t, name(w, i), mustRead(t, s, name(w, i), 0, -1), content(w, i))
		}
	}
}

// testReadDuringOverwrite checks atomic visibility: readers racing with
// repeated overwrites must always see one complete version.
func testReadDuringOverwrite(t *testing.T, s storage.Store, root string) {
	name := root + "/index/contended"
	versions := [][]byte{
		bytes.Repeat([]byte{0xaa}, 256<<10),
		bytes.Repeat([]byte{0xbb}, 300<<10+1),
		bytes.Repeat([]byte{0xcc}, 200<<10-1),
	}
	mustPut(t, s, name, versions[0])

	const (
		overwrites = 24
		readers    = 3
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := 1; i <= overwrites; i++ {
			if err := s.Put(t.Context(), name, versions[i%len(versions)]); err != nil {
				t.Errorf("overwrite %d: %v", i, err)
				return
			}
		}
	})
	for r := range readers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					if n > 0 {
						return
					}
				default:
				}
				got, err := readRange(t.Context(), s, name, 0, -1)
				if err != nil {
					t.Errorf("reader %d, read %d: %v", r, n, err)
					return
				}
				if !isOneOf(got, versions) {
					t.Errorf("reader %d, read %d: saw %d bytes that are not one whole version (torn or partial write)", r, n, len(got))
					return
				}
			}
		})
	}
	wg.Wait()
}

func isOneOf(got []byte, versions [][]byte) bool {
	for _, v := range versions {
		if bytes.Equal(got, v) {
			return true
		}
	}
	return false
}
