package repo

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// hugeStore serves one generated object of size bytes under name on top of
// a real store (no memory held), claims statSize for it in Stat, and
// counts the bytes of it that readers actually take.
type hugeStore struct {
	storage.Store
	name           string
	size, statSize int64
	// announced, when not 0, is what the Get reader reports through
	// storage.Sized (the response's Content-Length).
	announced int64
	read      atomic.Int64
}

// announcingReader is a Get body with a Content-Length.
type announcingReader struct {
	io.Reader
	announced int64
}

func (a announcingReader) Remaining() int64 { return a.announced }

func (announcingReader) Close() error { return nil }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type limitCountingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c limitCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (h *hugeStore) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	if name == h.name {
		return storage.ObjectInfo{Name: name, Size: h.statSize}, nil
	}
	return h.Store.Stat(ctx, name)
}

func (h *hugeStore) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if name == h.name {
		body := limitCountingReader{io.LimitReader(zeroReader{}, h.size), &h.read}
		if h.announced != 0 {
			return announcingReader{body, h.announced}, nil
		}
		return io.NopCloser(body), nil
	}
	return h.Store.Get(ctx, name, off, length)
}

func (h *hugeStore) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := h.Store.List(ctx, prefix, fn); err != nil {
		return err
	}
	if strings.HasPrefix(h.name, prefix) {
		return fn(storage.ObjectInfo{Name: h.name, Size: h.statSize})
	}
	return nil
}

// TestOversizedObjects: a 512 MiB object under snapshots/ costs one Stat,
// or nothing but the Get where the response announces its length (no
// byte of it is read), and one whose Stat or announced length lies is cut
// at its limit.
// Either is skipped by a listing with a warning naming it.
func TestOversizedObjects(t *testing.T) {
	ctx := context.Background()
	base, r0 := newTestRepo(t, testInitOptions())
	goodID, err := snapshot.Save(ctx, r0, &snapshot.Snapshot{Host: "h", Paths: []string{"/x"}, Tree: []crypto.ID{{1}}})
	if err != nil {
		t.Fatal(err)
	}
	hugeID := crypto.Hash([]byte("pretend"))
	for _, tc := range []struct {
		what                      string
		statSize, announced, most int64
	}{
		{"honest size", 512 << 20, 0, 0},
		{"lying size", 100, 0, maxSnapshotSize + 1},
		{"honest announced length", 100, 512 << 20, 0},
		{"lying announced length", 512 << 20, 100, maxSnapshotSize + 1},
	} {
		t.Run(tc.what, func(t *testing.T) {
			h := &hugeStore{Store: base, name: ObjectName(KindSnapshot, hugeID), size: 512 << 20, statSize: tc.statSize, announced: tc.announced}
			var warned []string
			r := openTestRepo(t, h, OpenOptions{Warn: func(object string, err error) { warned = append(warned, object) }})
			_, err := r.LoadObject(ctx, KindSnapshot, hugeID)
			if !errors.Is(err, ErrTooLarge) || !IsDamage(err) || !strings.Contains(err.Error(), hugeID.String()) {
				t.Fatalf("LoadObject = %v; want ErrTooLarge naming the object", err)
			}
			if got := h.read.Load(); got > tc.most {
				t.Errorf("read %d bytes of the huge object; want at most %d", got, tc.most)
			}
			entries, err := snapshot.List(ctx, r)
			if err != nil || len(entries) != 1 || entries[0].ID != goodID {
				t.Fatalf("List = %v, %v; want only %s", entries, err, goodID.Short())
			}
			if len(warned) != 1 || warned[0] != ObjectName(KindSnapshot, hugeID) {
				t.Errorf("warnings %q", warned)
			}
			if s := r.Skipped(); len(s) != 1 || s[0].Name != ObjectName(KindSnapshot, hugeID) {
				t.Errorf("Skipped = %v", s)
			}
			if got := h.read.Load(); got > 2*tc.most {
				t.Errorf("read %d bytes of the huge object in all; want at most %d", got, 2*tc.most)
			}
		})
	}
}

// failingStore fails every Get of a snapshot object as storage would.
type failingStore struct{ storage.Store }

var errUnreachable = errors.New("connection refused")

func (f failingStore) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if strings.HasPrefix(name, "snapshots/") {
		return nil, errUnreachable
	}
	return f.Store.Get(ctx, name, off, length)
}

// TestStorageFailureIsNotSkipped: a listing that cannot read a snapshot
// because storage failed fails; it does not pass over it as damage.
func TestStorageFailureIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	base, r0 := newTestRepo(t, testInitOptions())
	if _, err := snapshot.Save(ctx, r0, &snapshot.Snapshot{Host: "h", Tree: []crypto.ID{{1}}}); err != nil {
		t.Fatal(err)
	}
	r := openTestRepo(t, failingStore{base}, OpenOptions{})
	if _, err := snapshot.List(ctx, r); !errors.Is(err, errUnreachable) || IsDamage(err) {
		t.Fatalf("List = %v; want the storage error", err)
	}
	if len(r.Skipped()) != 0 {
		t.Errorf("Skipped = %v", r.Skipped())
	}
}

// TestOversizedKeyFileWithoutStat: key files and the config are read
// without a Stat first (their limit is small), so a 512 MiB junk object
// under keys/, which a key holder with create-only access can plant, costs
// at most its 64 KiB limit (plus one byte) to read, is reported as damage
// naming it, and does not stop the real key from opening the repository.
func TestOversizedKeyFileWithoutStat(t *testing.T) {
	ctx := context.Background()
	base, r0 := newTestRepo(t, testInitOptions())
	r0.Close()
	junk := crypto.Hash([]byte("junk key"))
	h := &hugeStore{Store: base, name: ObjectName(KindKey, junk), size: 512 << 20, statSize: 512 << 20}
	if _, err := readLimited(ctx, h, h.name, maxKeyFileSize); !errors.Is(err, ErrTooLarge) || !IsDamage(err) {
		t.Fatalf("readLimited of a 512 MiB key file = %v; want ErrTooLarge (damage)", err)
	}
	if got := h.read.Load(); got > maxKeyFileSize+1 {
		t.Errorf("read %d bytes of the junk key file; want at most %d", got, maxKeyFileSize+1)
	}
	r := openTestRepo(t, h, OpenOptions{})
	r.Close()
	if got := h.read.Load(); got > 2*(maxKeyFileSize+1) {
		t.Errorf("opening beside the junk key read %d bytes of it; want at most %d", got, 2*(maxKeyFileSize+1))
	}
}
