package archiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// streamOf returns the content of the file at /name in snap.
func streamOf(t *testing.T, r Repo, snap *snapshot.Snapshot, name string) (*snapshot.Node, []byte) {
	t.Helper()
	ctx := context.Background()
	n, err := snapshot.FindPath(ctx, r, snap.Tree, "/"+name)
	must(t, err)
	var got []byte
	for _, id := range n.Content {
		data, err := r.LoadBlob(ctx, pack.DataBlob, id)
		must(t, err)
		got = append(got, data...)
	}
	return n, got
}

// smallChunkRepo has small chunks and packs, so that a stream of a
// megabyte is many chunks in several packs.
func smallChunkRepo(t *testing.T) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), mem.New(), []byte("test passphrase"), repo.InitOptions{
		KDF:      crypto.TestKDF(),
		Chunker:  chunker.Params{Algorithm: chunker.Algorithm, MinSize: 16 << 10, AvgSize: 64 << 10, MaxSize: 256 << 10},
		PackSize: 256 << 10,
	})
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestStdinBackup(t *testing.T) {
	r := smallChunkRepo(t)
	data := randomBytes(7, 1<<20+123)
	res := backup(t, r, Options{Stdin: &StdinSource{Name: "db dump.sql", Reader: bytes.NewReader(data)}})
	snap := res.Snapshot
	if len(snap.Paths) != 1 || snap.Paths[0] != "/db dump.sql" {
		t.Fatalf("paths %q", snap.Paths)
	}
	n, got := streamOf(t, r, snap, "db dump.sql")
	if !bytes.Equal(got, data) || n.Size != uint64(len(data)) {
		t.Fatalf("stored %d bytes (size %d), want %d exactly", len(got), n.Size, len(data))
	}
	if len(n.Content) < 2 {
		t.Errorf("%d chunks; want the stream cut into several", len(n.Content))
	}
	if n.Mode != 0o600 || n.Type != snapshot.NodeFile || n.UID != uint32(os.Getuid()) {
		t.Errorf("node mode %o type %s uid %d", n.Mode, n.Type, n.UID)
	}
	if snap.Summary.FilesNew != 1 || snap.Summary.BytesRead != uint64(len(data)) {
		t.Errorf("summary %+v", snap.Summary)
	}

	// The default name, and an empty stream.
	res = backup(t, r, Options{Stdin: &StdinSource{Reader: bytes.NewReader(nil)}})
	if n, got := streamOf(t, r, res.Snapshot, DefaultStdinName); n.Size != 0 || len(got) != 0 {
		t.Errorf("empty stream stored as %d bytes", n.Size)
	}
}

// TestStdinFailureNoSnapshot: a stream whose producer fails (Wait), or
// whose read fails, leaves no snapshot; the chunks uploaded before are
// reused by the next backup.
func TestStdinFailureNoSnapshot(t *testing.T) {
	ctx := context.Background()
	// Small packs, so that most of the stream is uploaded before the
	// failure shows.
	r := smallChunkRepo(t)
	data := randomBytes(8, 2<<20)
	exit := errors.New("pg_dump exited with status 1")
	_, err := Run(ctx, r, Options{Host: "h", Stdin: &StdinSource{Reader: bytes.NewReader(data), Wait: func() error { return exit }}})
	if !errors.Is(err, exit) {
		t.Fatalf("failing producer: %v", err)
	}
	readFail := errors.New("broken pipe")
	_, err = Run(ctx, r, Options{Host: "h", Stdin: &StdinSource{Reader: io.MultiReader(bytes.NewReader(data[:1<<20]), errReader{readFail})}})
	if !errors.Is(err, readFail) {
		t.Fatalf("failing read: %v", err)
	}
	if snaps, err := snapshot.List(ctx, r); err != nil || len(snaps) != 0 {
		t.Fatalf("after failures: %d snapshots, %v", len(snaps), err)
	}
	res := backup(t, r, Options{Stdin: &StdinSource{Reader: bytes.NewReader(data)}})
	if added := res.Snapshot.Summary.BytesAdded; added*2 > uint64(len(data)) {
		t.Errorf("retry added %d of %d bytes; the failed run's uploaded packs should be reused", added, len(data))
	}
	if _, got := streamOf(t, r, res.Snapshot, DefaultStdinName); !bytes.Equal(got, data) {
		t.Error("retry did not store the stream exactly")
	}
}

func TestStdinRejects(t *testing.T) {
	r, _ := newTestRepo(t)
	for _, name := range []string{"a/b", "..", "."} {
		_, err := Run(context.Background(), r, Options{Host: "h", Stdin: &StdinSource{Name: name, Reader: bytes.NewReader(nil)}})
		if err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	_, err := Run(context.Background(), r, Options{Host: "h", Paths: []string{t.TempDir()}, Stdin: &StdinSource{Reader: bytes.NewReader(nil)}})
	if err == nil {
		t.Error("stdin with paths accepted")
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
