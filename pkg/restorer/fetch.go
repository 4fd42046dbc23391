package restorer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// maxGap is the largest run of unneeded bytes read through inside one
// request: reading 4 MiB more is cheaper than another round trip, except
// on links much faster than 4 MiB per request latency.
const maxGap = 4 << 20

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

// fetchPack reads the needed blobs of one pack in as few ranged Gets as the
// gaps allow (usually one), decrypting each as it arrives.
func fetchPack(ctx context.Context, r Repo, pp *packPlan, sink blobSink) error {
	blobs := pp.blobs
	slices.SortFunc(blobs, func(a, b *blobPlan) int { return cmp.Compare(a.offset, b.offset) })
	var buf []byte
	for start := 0; start < len(blobs); {
		end := start + 1
		for end < len(blobs) && int64(blobs[end].offset)-blobEnd(blobs[end-1]) <= maxGap {
			end++
		}
		var err error
		buf, err = fetchRange(ctx, r, pp, blobs[start:end], buf, sink)
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

func blobEnd(bp *blobPlan) int64 { return int64(bp.offset) + int64(bp.length) }

// fetchRange reads blobs (sorted, in one pack) with one Get and returns the
// read buffer for reuse. A failed request or a broken stream fails the
// blobs not yet read; the returned error is only ever ctx's.
func fetchRange(ctx context.Context, r Repo, pp *packPlan, blobs []*blobPlan, buf []byte, sink blobSink) ([]byte, error) {
	name := repo.PackName(pp.id)
	first := int64(blobs[0].offset)
	rc, err := r.Store().Get(ctx, name, first, blobEnd(blobs[len(blobs)-1])-first)
	if err != nil {
		if ctx.Err() != nil {
			return buf, ctx.Err()
		}
		return buf, failRest(ctx, r, blobs, fmt.Errorf("read %s: %w", name, err), sink)
	}
	defer rc.Close()
	pos := first
	for i, bp := range blobs {
		if skip := int64(bp.offset) - pos; skip > 0 {
			if _, err = io.CopyN(io.Discard, rc, skip); err != nil {
				err = fmt.Errorf("read at %d: %w", pos, err)
				return buf, failRest(ctx, r, blobs[i:], err, sink)
			}
		}
		if cap(buf) < int(bp.length) {
			buf = make([]byte, bp.length)
		}
		sealed := buf[:bp.length]
		if _, err = io.ReadFull(rc, sealed); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("%w (pack truncated?)", err)
			}
			err = fmt.Errorf("read at %d: %w", bp.offset, err)
			return buf, failRest(ctx, r, blobs[i:], err, sink)
		}
		pos = blobEnd(bp)
		plain, err := r.OpenBlob(pack.DataBlob, bp.id, sealed)
		if err != nil {
			recoverBlob(ctx, r, bp, fmt.Errorf("%s: %w", name, err), sink)
			continue
		}
		bp.size.Store(int64(len(plain)))
		sink.blob(bp, plain)
	}
	return buf, ctx.Err()
}

func failRest(ctx context.Context, r Repo, blobs []*blobPlan, err error, sink blobSink) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	name := repo.PackName(blobs[0].pack.id)
	for _, bp := range blobs {
		recoverBlob(ctx, r, bp, fmt.Errorf("%s: data blob %s: %w", name, bp.id.Short(), err), sink)
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
	name := repo.PackName(packID)
	rc, err := r.Store().Get(ctx, name, int64(offset), int64(length))
	if err != nil {
		return nil, fmt.Errorf("%s: data blob %s: %w", name, bp.id.Short(), err)
	}
	defer rc.Close()
	sealed := make([]byte, length)
	if _, err := io.ReadFull(rc, sealed); err != nil {
		return nil, fmt.Errorf("%s: data blob %s: read at %d: %w", name, bp.id.Short(), offset, err)
	}
	plain, err := r.OpenBlob(pack.DataBlob, bp.id, sealed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err) // names the blob
	}
	return plain, nil
}
