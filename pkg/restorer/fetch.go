package restorer

import (
	"context"
	"errors"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// blobSink receives the decrypted blobs of a batch. Both methods are called
// concurrently from the download workers; data is not used after blob
// returns unless the sink keeps it.
type blobSink interface {
	blob(bp *blobPlan, data []byte)
	fail(bp *blobPlan, err error)
}

// fetchPacks downloads every pack of packs, Connections at a time, in the
// order given, and passes each blob to sink. Damaged and missing blobs go to
// sink.fail; only a cancelled ctx ends it early.
//
// A pack is not started before the one 2*Connections places earlier has
// finished: blobs that arrive ahead of their file's earlier blobs wait in
// memory, and the window bounds how far ahead they can be when one
// download stalls.
func fetchPacks(ctx context.Context, r Repo, packs []*packPlan, connections int, sink blobSink) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(connections)
	window := 2 * connections
	done := make([]chan struct{}, len(packs))
	for i, pp := range packs {
		if i >= window {
			select {
			case <-done[i-window]:
			case <-gctx.Done():
			}
		}
		if gctx.Err() != nil {
			break
		}
		done[i] = make(chan struct{})
		g.Go(func() error {
			defer close(done[i])
			return fetchPack(gctx, r, pp, sink)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// fetchPack reads the needed blobs of one pack with repo.LoadPackBlobs (in
// as few ranged Gets as the gaps allow, usually one), decrypting each as it
// arrives. A blob that fails goes to recoverBlob.
func fetchPack(ctx context.Context, r Repo, pp *packPlan, sink blobSink) error {
	type loc struct {
		id     crypto.ID
		offset uint32
	}
	plans := make(map[loc]*blobPlan, len(pp.blobs))
	entries := make([]index.Entry, 0, len(pp.blobs))
	for _, bp := range pp.blobs {
		plans[loc{bp.id, bp.offset}] = bp
		entries = append(entries, index.Entry{ID: bp.id, Type: pack.DataBlob, Pack: pp.id, Offset: bp.offset, Length: bp.length})
	}
	err := r.LoadPackBlobs(ctx, pp.id, entries, repo.PackReadOptions{}, func(e index.Entry, plain []byte, err error) error {
		bp := plans[loc{e.ID, e.Offset}]
		if err != nil {
			recoverBlob(ctx, r, bp, err, sink)
			return ctx.Err()
		}
		bp.size.Store(int64(len(plain)))
		sink.blob(bp, plain)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// recoverBlob tries the other copies the index knows of a blob that failed
// in its planned pack (two clients may have stored it at the same time), and
// fails it when there are none or all are damaged too.
func recoverBlob(ctx context.Context, r Repo, bp *blobPlan, cause error, sink blobSink) {
	errs := []error{cause}
	for _, e := range r.Index().LookupAll(bp.id) {
		if e.Pack == bp.pack.id || e.Type != pack.DataBlob || ctx.Err() != nil {
			continue
		}
		plain, err := readBlobAt(ctx, r, e.Pack, e.Offset, e.Length, bp)
		if err == nil {
			bp.size.Store(int64(len(plain)))
			sink.blob(bp, plain)
			return
		}
		errs = append(errs, err)
	}
	if ctx.Err() != nil {
		return
	}
	sink.fail(bp, errors.Join(errs...))
}

// readBlobAt reads and opens one copy of bp stored elsewhere.
func readBlobAt(ctx context.Context, r Repo, packID crypto.ID, offset, length uint32, bp *blobPlan) ([]byte, error) {
	var out []byte
	e := index.Entry{ID: bp.id, Type: pack.DataBlob, Pack: packID, Offset: offset, Length: length}
	err := r.LoadPackBlobs(ctx, packID, []index.Entry{e}, repo.PackReadOptions{}, func(_ index.Entry, plain []byte, err error) error {
		if err != nil {
			return err
		}
		out = slices.Clone(plain)
		return nil
	})
	return out, err
}
