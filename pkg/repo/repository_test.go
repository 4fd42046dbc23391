package repo

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

func TestInitOpen(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	cfg := r.Config()
	if cfg.Version != 1 || len(cfg.ID) != 64 || cfg.Compression != "zstd" || cfg.CompressionLevel != 2 ||
		cfg.PackSize != 16<<20 || cfg.Chunker != chunker.DefaultParams() || cfg.Created.IsZero() {
		t.Errorf("defaults: %+v", cfg)
	}
	if got := names(t, store, "keys/"); len(got) != 1 {
		t.Fatalf("key files: %v", got)
	}

	r2 := openTestRepo(t, store, OpenOptions{})
	if r2.Config() != cfg {
		t.Errorf("reopened config %+v, want %+v", r2.Config(), cfg)
	}
	if r2.Keys().BlobID([]byte("x")) != r.Keys().BlobID([]byte("x")) {
		t.Error("reopened repository derives different keys")
	}

	_, err := Open(ctx, store, []byte("wrong"), OpenOptions{})
	if !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}

	if _, err := Init(ctx, store, testPass, testInitOptions()); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("second Init: %v", err)
	}
}

func TestOpenEmpty(t *testing.T) {
	_, err := Open(context.Background(), mem.New(), testPass, OpenOptions{})
	if !errors.Is(err, ErrNoRepository) {
		t.Errorf("open empty store: %v", err)
	}
}

func TestInitOptionsApplied(t *testing.T) {
	opts := testInitOptions()
	opts.PackSize = 1 << 20
	opts.CompressionLevel = 3
	opts.Chunker = chunker.Params{Algorithm: chunker.Algorithm, MinSize: 64 << 10, AvgSize: 128 << 10, MaxSize: 1 << 20}
	store, r := newTestRepo(t, opts)
	r2 := openTestRepo(t, store, OpenOptions{})
	c := r2.Config()
	if c.PackSize != opts.PackSize || c.CompressionLevel != 3 || c.Chunker != opts.Chunker {
		t.Errorf("config %+v does not reflect %+v", c, opts)
	}
	_ = r

	bad := testInitOptions()
	bad.PackSize = 10
	if _, err := Init(context.Background(), mem.New(), testPass, bad); err == nil {
		t.Error("Init accepted a 10-byte pack size")
	}
	bad = testInitOptions()
	bad.CompressionLevel = 9
	if _, err := Init(context.Background(), mem.New(), testPass, bad); err == nil {
		t.Error("Init accepted compression level 9")
	}
}

// creatorStore records Create calls.
type creatorStore struct {
	*mem.Store
	created bool
}

func (c *creatorStore) Create(context.Context) error { c.created = true; return nil }

func TestInitCallsCreate(t *testing.T) {
	s := &creatorStore{Store: mem.New()}
	if _, err := Init(context.Background(), s, testPass, testInitOptions()); err != nil {
		t.Fatal(err)
	}
	if !s.created {
		t.Error("Init did not call Create")
	}
}

// noRepoStore fails like a missing bucket.
type noRepoStore struct{ *mem.Store }

func (noRepoStore) Get(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, storage.ErrNoRepository
}

func TestOpenMissingLocation(t *testing.T) {
	_, err := Open(context.Background(), noRepoStore{mem.New()}, testPass, OpenOptions{})
	if !errors.Is(err, ErrNoRepository) {
		t.Errorf("open of a missing location: %v", err)
	}
}

func TestFutureVersionRefused(t *testing.T) {
	store, r := newTestRepo(t, testInitOptions())
	r.cfg.Version = 2
	store.Delete(context.Background(), configName) // Put never replaces
	if err := r.saveConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), store, testPass, OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("open of a version 2 repository: %v", err)
	}
}

func TestStrayKeyFileSkipped(t *testing.T) {
	// A key file with the same passphrase but another master secret (an
	// interrupted init) must not stop Open.
	ctx := context.Background()
	store, _ := newTestRepo(t, testInitOptions())
	mk, _ := crypto.NewMasterKey()
	kf, err := crypto.NewKeyFile(mk, testPass, crypto.TestKDF(), "", "", utcNow())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := kf.Marshal()
	rawPut(t, store, ObjectName(KindKey, crypto.Hash(data)), data)
	for range 3 {
		if _, err := Open(ctx, store, testPass, OpenOptions{}); err != nil {
			t.Fatalf("open with a stray key file: %v", err)
		}
	}
}
