package repo

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

var testPass = []byte("correct horse battery staple")

func testInitOptions() InitOptions {
	return InitOptions{KDF: crypto.TestKDF(), Host: "testhost", Username: "tester"}
}

// newTestRepo initialises a repository in a fresh in-memory store.
func newTestRepo(t testing.TB, opts InitOptions) (*mem.Store, *Repository) {
	t.Helper()
	store := mem.New()
	r, err := Init(context.Background(), store, testPass, opts)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return store, r
}

func openTestRepo(t testing.TB, store storage.Store, opts OpenOptions) *Repository {
	t.Helper()
	r, err := Open(context.Background(), store, testPass, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rawGet reads a whole object from a store.
func rawGet(t testing.TB, s storage.Store, name string) []byte {
	t.Helper()
	b, err := storage.ReadAll(context.Background(), s, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// rawPut stores data under name, replacing an existing object through
// mem's test-only Replace (Put never replaces).
func rawPut(t testing.TB, s storage.Store, name string, data []byte) {
	t.Helper()
	put := func() error { return s.Put(context.Background(), name, data) }
	if m, ok := s.(interface{ Replace(string, []byte) error }); ok {
		put = func() error { return m.Replace(name, data) }
	}
	if err := put(); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

// names lists every object name under prefix.
func names(t testing.TB, s storage.Store, prefix string) []string {
	t.Helper()
	var out []string
	err := s.List(context.Background(), prefix, func(oi storage.ObjectInfo) error {
		out = append(out, oi.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// countingStore counts Get and List calls per top-level directory.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	gets  map[string]int
	lists map[string]int
}

func newCountingStore(s storage.Store) *countingStore {
	return &countingStore{Store: s, gets: make(map[string]int), lists: make(map[string]int)}
}

func (c *countingStore) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	dir, _, _ := strings.Cut(prefix, "/")
	c.mu.Lock()
	c.lists[dir]++
	c.mu.Unlock()
	return c.Store.List(ctx, prefix, fn)
}

func (c *countingStore) listed(dir string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists[dir]
}

func (c *countingStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	dir, _, _ := strings.Cut(name, "/")
	c.mu.Lock()
	c.gets[dir]++
	c.mu.Unlock()
	return c.Store.Get(ctx, name, off, n)
}

func (c *countingStore) count(dir string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[dir]
}

// flipped returns a copy of b with byte i inverted.
func flipped(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

// positions returns the byte positions to tamper with in an object of n
// bytes: all of them for small objects, else a spread including both ends.
func positions(n int) []int {
	if n <= 512 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i < 64; i++ {
		out = append(out, i, n-1-i)
	}
	for i := 64; i < n-64; i += n / 200 {
		out = append(out, i)
	}
	return out
}
