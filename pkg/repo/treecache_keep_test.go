package repo

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// Tree packs a process uploads go into its cache as written: a walk over
// those trees afterwards, in a new process with the same cache, downloads
// nothing. Data packs are never cached.
func TestTreeCacheKeepsUploadedPacks(t *testing.T) {
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	store, r0 := newTestRepo(t, opts)
	r0.Close()
	cacheDir := t.TempDir()
	w := openWithIndex(t, store, OpenOptions{CacheDir: cacheDir})
	s := w.NewSaver(ctx, SaverOptions{})
	rng := rand.New(rand.NewPCG(3, 3))
	trees := make(map[crypto.ID][]byte)
	for range 40 {
		b := make([]byte, 700)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		id, err := s.SaveBlob(ctx, pack.TreeBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		trees[id] = b
	}
	if _, err := s.SaveBlob(ctx, pack.DataBlob, bytes.Repeat([]byte{9}, 5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	packs := treePacks(t, w, trees)
	files, _ := cachedPacks(t, filepath.Join(cacheDir, w.Config().ID, "packs"))
	for p := range packs {
		if !files[p.String()] {
			t.Errorf("uploaded tree pack %s is not in the cache", p.Short())
		}
	}
	if len(files) != len(packs) {
		t.Errorf("cache holds %d packs, want the %d tree packs only", len(files), len(packs))
	}
	w.Close()

	counted := newCountingStore(store)
	r := openWithIndex(t, counted, OpenOptions{CacheDir: cacheDir})
	loadTrees(t, r, trees)
	if n := counted.count("data"); n != 0 {
		t.Errorf("walking trees this machine uploaded made %d pack GETs, want 0", n)
	}
}
