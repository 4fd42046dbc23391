package copy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func TestCopyTwiceCopiesNothingTheSecondTime(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(map[bool]string{true: "blobs", false: "rechunk"}[same], func(t *testing.T) {
			ctx := context.Background()
			f := repotest.NewFixture(t)
			a, b := backupTwo(f)
			d := newDest(t, f.Repo, same)

			res, err := Copy(ctx, f.Open(), d.repo, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Copied) != 2 || len(res.Skipped) != 0 {
				t.Fatalf("first copy: copied %d, skipped %d; want 2, 0", len(res.Copied), len(res.Skipped))
			}
			wantMode := map[bool]Mode{true: ModeBlobs, false: ModeRechunk}[same]
			if res.Mode != wantMode {
				t.Fatalf("mode %s, want %s", res.Mode, wantMode)
			}
			// A later run, from fresh clients of both, copies nothing.
			res2, err := Copy(ctx, f.Open(), d.open(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res2.Copied) != 0 || len(res2.Skipped) != 2 {
				t.Fatalf("second copy: copied %d, skipped %d; want 0, 2", len(res2.Copied), len(res2.Skipped))
			}
			if n := len(snapshots(t, d.open())); n != 2 {
				t.Fatalf("destination has %d snapshots, want 2", n)
			}
			dst := d.open()
			if err := dst.LoadIndex(ctx); err != nil {
				t.Fatal(err)
			}
			for i, src := range []crypto.ID{a, b} {
				c := res.Copied[i]
				if c.Source != src {
					t.Fatalf("copied %s, want %s (oldest first)", c.Source.Short(), src.Short())
				}
				sameTrees(t, f, f.Repo, src, dst, c.Dest)
				s, err := snapshot.Find(ctx, dst, c.Dest.String(), snapshot.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if s.Snapshot.Original != src || s.Snapshot.OriginalRepo != f.Repo.Config().ID {
					t.Errorf("copy records original %s in %q, want %s in %s", s.Snapshot.Original.Short(), s.Snapshot.OriginalRepo, src.Short(), f.Repo.Config().ID)
				}
			}
		})
	}
}

func TestCopySameChunkingMovesBlobsAndDeduplicates(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	a, b := backupTwo(f)
	d := newDest(t, f.Repo, true)
	src := f.Open()

	first, err := Copy(ctx, src, d.repo, Options{Refs: []string{a.String()}})
	if err != nil {
		t.Fatal(err)
	}
	// a: shared.bin 40 KiB and own.bin 30 KiB in 1500-byte blobs, and
	// small.txt: 28 + 21 + 1 data blobs, all new.
	blobs := func(n int) int { return (n + repotest.ChunkSize - 1) / repotest.ChunkSize }
	wantA := blobs(40<<10) + blobs(30<<10) + 1
	c := first.Copied[0]
	if c.DataStored != wantA || c.DataDeduped != 0 || c.FilesRechunked != 0 {
		t.Fatalf("copy of a: %+v; want %d data blobs stored, none deduplicated or re-chunked", c.Counts, wantA)
	}
	second, err := Copy(ctx, src, d.repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Copied) != 1 || second.Copied[0].Source != b || len(second.Skipped) != 1 {
		t.Fatalf("second copy: %+v", second)
	}
	// b shares shared.bin and small.txt with a: only own.bin moves.
	c = second.Copied[0]
	if c.DataStored != blobs(30<<10) || c.DataDeduped != blobs(40<<10)+1 {
		t.Fatalf("copy of b: %+v; want %d stored, %d deduplicated", c.Counts, blobs(30<<10), blobs(40<<10)+1)
	}
	// Blob IDs and trees are the source's: the snapshot's root is the same.
	dst := d.open()
	for _, e := range snapshots(t, dst) {
		orig, err := snapshot.Find(ctx, src, e.Snapshot.Original.String(), snapshot.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Snapshot.Tree) != len(orig.Snapshot.Tree) || e.Snapshot.Tree[0] != orig.Snapshot.Tree[0] {
			t.Errorf("copy of %s has root %v, source %v: trees were re-encoded", orig.ID.Short(), e.Snapshot.Tree, orig.Snapshot.Tree)
		}
	}
	if err := dst.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// Each distinct blob is stored once in the destination.
	wantData := blobs(40<<10) + 2*blobs(30<<10) + 1
	data := 0
	if err := dst.Index().Each(func(e index.Entry) error {
		if e.Type == pack.DataBlob {
			data++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if data != wantData {
		t.Errorf("destination indexes %d data blobs, want %d", data, wantData)
	}
	sameTrees(t, f, src, a, dst, first.Copied[0].Dest)
	sameTrees(t, f, src, b, dst, second.Copied[0].Dest)
}

func TestCopyRechunksWithTheDestinationsChunker(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	// A file larger than the destination's largest chunk.
	big := map[string][]byte{"/data/big.bin": repotest.Content(7, 200<<10), "/data/x": []byte("x")}
	id := f.Backup(f.Repo, repotest.T0, big)
	d := newDest(t, f.Repo, false)
	if SameChunking(f.Repo, d.repo) {
		t.Fatal("repositories with other chunker parameters and keys chunk alike")
	}
	res, err := Copy(ctx, f.Open(), d.repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeRechunk || res.Total.FilesRechunked != 2 {
		t.Fatalf("%s, %+v; want 2 files re-chunked", res.Mode, res.Total)
	}
	dst := d.open()
	if err := dst.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	sameTrees(t, f, f.Repo, id, dst, res.Copied[0].Dest)
	// The copy's chunks are the destination chunker's, not 1500 bytes.
	p := smallChunks()
	n, err := snapshot.FindPath(ctx, dst, snapshots(t, dst)[0].Snapshot.Tree, "/data/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range n.Content {
		data, err := dst.LoadBlob(ctx, pack.DataBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > p.MaxSize || (i < len(n.Content)-1 && len(data) < p.MinSize) {
			t.Errorf("chunk %d is %d bytes, outside %d-%d", i, len(data), p.MinSize, p.MaxSize)
		}
	}
	if len(n.Content) < (200<<10)/p.MaxSize {
		t.Errorf("%d chunks for 200 KiB with chunks of at most %d", len(n.Content), p.MaxSize)
	}
}

func TestCopyDamagedSourceBlobFailsNamingItAndSavesNoSnapshot(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(map[bool]string{true: "blobs", false: "rechunk"}[same], func(t *testing.T) {
			ctx := context.Background()
			f := repotest.NewFixture(t)
			id := f.Backup(f.Repo, repotest.T0, files(10))
			blob := f.Repo.Keys().BlobID(files(10)["/home/a/own.bin"][:repotest.ChunkSize])
			damageBlob(t, f.Store, f.Repo, blob)
			d := newDest(t, f.Repo, same)

			res, err := Copy(ctx, f.Open(), d.repo, Options{})
			if err == nil {
				t.Fatal("copy of a snapshot with a damaged blob succeeded")
			}
			for _, want := range []string{blob.String(), "/home/a/own.bin", "damaged in the source", id.Short()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if !errors.Is(err, repo.ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
			if len(res.Failed) != 1 || len(res.Copied) != 0 {
				t.Fatalf("result %+v; want one failure", res)
			}
			if n := len(snapshots(t, d.open())); n != 0 {
				t.Fatalf("destination has %d snapshots after a failed copy", n)
			}
		})
	}
}

func TestCopySameRepositoryRefused(t *testing.T) {
	f := repotest.NewFixture(t)
	f.Backup(f.Repo, repotest.T0, files(1))
	if _, err := Copy(context.Background(), f.Repo, f.Open(), Options{}); err == nil {
		t.Fatal("copy into the same repository succeeded")
	}
}

func TestCopyDryRunCopiesNothing(t *testing.T) {
	f := repotest.NewFixture(t)
	backupTwo(f)
	d := newDest(t, f.Repo, true)
	res, err := Copy(context.Background(), f.Open(), d.repo, Options{DryRun: true, Filter: snapshot.Filter{Hosts: []string{"test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pending) != 2 || len(res.Copied) != 0 {
		t.Fatalf("dry run: %+v", res)
	}
	if n := len(snapshots(t, d.open())); n != 0 {
		t.Fatalf("dry run wrote %d snapshots", n)
	}
}

// A copy of a copy records the first snapshot, and copying the original
// again into the second destination skips it.
func TestCopyChainKeepsTheFirstOrigin(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	id := f.Backup(f.Repo, repotest.T0, files(1))
	b := newDest(t, f.Repo, true)
	c := newDest(t, f.Repo, true)
	if _, err := Copy(ctx, f.Open(), b.repo, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, b.open(), c.repo, Options{}); err != nil {
		t.Fatal(err)
	}
	got := snapshots(t, c.open())
	if len(got) != 1 || got[0].Snapshot.Original != id || got[0].Snapshot.OriginalRepo != f.Repo.Config().ID {
		t.Fatalf("copy of a copy: %+v; want original %s", got, id.Short())
	}
	res, err := Copy(ctx, f.Open(), c.open(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Copied) != 0 || len(res.Skipped) != 1 {
		t.Fatalf("original copied again into the copy of its copy: %+v", res)
	}
}

// Someone holding the destination's key plants a snapshot that claims to
// be a copy of a: with shared chunking the claim's root is checked, so a
// is copied anyway.
func TestCopyDoesNotBelieveAPlantedOriginal(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	a, b := backupTwo(f)
	d := newDest(t, f.Repo, true)
	if _, err := Copy(ctx, f.Open(), d.repo, Options{Refs: []string{b.String()}}); err != nil {
		t.Fatal(err)
	}
	dst := d.open()
	copyOfB := snapshots(t, dst)[0]
	planted := *copyOfB.Snapshot
	planted.Original = a
	if _, err := snapshot.Save(ctx, dst, &planted); err != nil {
		t.Fatal(err)
	}
	res, err := Copy(ctx, f.Open(), d.open(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Copied) != 1 || res.Copied[0].Source != a || len(res.Skipped) != 1 || res.Skipped[0].Source != b {
		t.Fatalf("with a planted claim: %+v; want a copied and b skipped", res)
	}
	dst = d.open()
	if err := dst.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	sameTrees(t, f, f.Repo, a, dst, res.Copied[0].Dest)
}
