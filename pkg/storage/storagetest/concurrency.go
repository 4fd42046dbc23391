package storagetest

import (
	"bytes"
	"errors"
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

// testRacingCreates checks atomic visibility and create-only together:
// writers racing to create one name with different content, and readers
// racing with them. Exactly one writer succeeds; every other gets
// ErrExists; every reader sees no object or one whole version, and once
// there, always the same one.
func testRacingCreates(t *testing.T, s storage.Store, root string) {
	versions := [][]byte{
		bytes.Repeat([]byte{0xaa}, 256<<10),
		bytes.Repeat([]byte{0xbb}, 300<<10+1),
		bytes.Repeat([]byte{0xcc}, 200<<10-1),
		bytes.Repeat([]byte{0xdd}, 1),
	}
	const (
		rounds  = 6
		readers = 2
	)
	for round := range rounds {
		name := fmt.Sprintf("%s/index/contended-%d", root, round)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
			done    = make(chan struct{})
			writers sync.WaitGroup
		)
		for w := range versions {
			writers.Go(func() {
				err := s.Put(t.Context(), name, versions[w])
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, w)
					mu.Unlock()
				case !errors.Is(err, storage.ErrExists):
					t.Errorf("round %d, writer %d: %v, want nil or storage.ErrExists", round, w, err)
				}
			})
		}
		wg.Go(func() {
			writers.Wait()
			close(done)
		})
		for r := range readers {
			wg.Go(func() {
				var seen []byte
				for n := 0; ; n++ {
					select {
					case <-done:
						return
					default:
					}
					got, err := readRange(t.Context(), s, name, 0, -1)
					if errors.Is(err, storage.ErrNotFound) && seen == nil {
						continue
					}
					if err != nil {
						t.Errorf("round %d, reader %d, read %d: %v", round, r, n, err)
						return
					}
					if !isOneOf(got, versions) {
						t.Errorf("round %d, reader %d: saw %d bytes that are not one whole version (torn or partial write)", round, r, len(got))
						return
					}
					if seen != nil && !bytes.Equal(seen, got) {
						t.Errorf("round %d, reader %d: the object changed after it appeared (replaced)", round, r)
						return
					}
					seen = got
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d writers succeeded creating the same name, want exactly 1", round, len(winners))
		}
		checkContent(t, fmt.Sprintf("round %d: object", round), mustRead(t, s, name, 0, -1), versions[winners[0]])
	}
}

func isOneOf(got []byte, versions [][]byte) bool {
	for _, v := range versions {
		if bytes.Equal(got, v) {
			return true
		}
	}
	return false
}
