package restorer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

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
func fetchPacks(ctx context.Context, r Repo, packs []*packPlan, connections int, sink blobSink) error {
	d := startDownload(ctx, r, connections, sink)
	for _, pp := range packs {
		if err := d.send(pp); err != nil {
			break
		}
	}
	return d.wait()
}

// download fetches packs handed to it while the walk goes on planning, so
// that tree loading and file creation overlap the data transfer. send
// never waits for the transfer: the walk runs ahead (its plan is bounded by
// the batch), and the further ahead it is, the more later needs of a blob
// join the blob's plan before it is delivered (blobPlan.addTarget).
type download struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed

	mu     sync.Mutex
	queue  []*packPlan
	closed bool
	wake   chan struct{} // capacity 1: something was queued, or closed
}

// startDownload starts downloading the packs given to send, Connections at
// a time, in the order given.
//
// A pack is not started before the one 2*Connections places earlier has
// finished: blobs of files without recorded lengths that arrive ahead of
// their file's earlier blobs wait in memory, and the window bounds how far
// ahead they can be when one download stalls.
func startDownload(ctx context.Context, r Repo, connections int, sink blobSink) *download {
	ctx, cancel := context.WithCancel(ctx)
	d := &download{ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go func() {
		defer close(d.done)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(connections)
		window := 2 * connections
		var started []chan struct{}
		for {
			pp, ok := d.next(gctx)
			if !ok {
				break
			}
			if i := len(started); i >= window {
				select {
				case <-started[i-window]:
				case <-gctx.Done():
				}
			}
			if gctx.Err() != nil {
				break
			}
			pp.start()
			for _, piece := range splitPack(pp, pieceSize) {
				done := make(chan struct{})
				started = append(started, done)
				g.Go(func() error {
					defer close(done)
					return fetchPack(gctx, r, piece, sink)
				})
			}
		}
		d.err = g.Wait()
		if d.err == nil {
			d.err = ctx.Err()
		}
	}()
	return d
}

// pieceSize is the sealed size above which the blobs needed from one pack
// are read as several requests of about this size, in parallel: a pack's
// blobs are decrypted, decompressed and written by the goroutine that reads
// its response, so with fewer packs than cores one request per pack would
// leave cores idle. Requests stay few and large.
const pieceSize = 8 << 20

// splitPack cuts pp into plans of consecutive blobs (by offset) of about
// size sealed bytes each; a plan that small is returned as it is.
func splitPack(pp *packPlan, size int64) []*packPlan {
	var total int64
	for _, bp := range pp.blobs {
		total += int64(bp.length)
	}
	if total <= size+size/2 {
		return []*packPlan{pp}
	}
	blobs := slices.Clone(pp.blobs)
	slices.SortFunc(blobs, func(a, b *blobPlan) int { return cmp.Compare(a.offset, b.offset) })
	var pieces []*packPlan
	var run int64
	start := 0
	for i, bp := range blobs {
		run += int64(bp.length)
		if run >= size && total-run > size/2 || i == len(blobs)-1 {
			pieces = append(pieces, &packPlan{id: pp.id, blobs: blobs[start : i+1], sent: true})
			start, total, run = i+1, total-run, 0
		}
	}
	return pieces
}

// send queues pp for the download; it fails once the download has stopped
// (cancelled).
func (d *download) send(pp *packPlan) error {
	select {
	case <-d.done:
		return d.err
	default:
	}
	if err := d.ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	d.queue = append(d.queue, pp)
	d.mu.Unlock()
	d.poke()
	return nil
}

func (d *download) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// next returns the next queued plan, waiting for one; false once the
// queue is closed and empty, or ctx is done.
func (d *download) next(ctx context.Context) (*packPlan, bool) {
	for {
		d.mu.Lock()
		if len(d.queue) > 0 {
			pp := d.queue[0]
			d.queue[0] = nil
			d.queue = d.queue[1:]
			d.mu.Unlock()
			return pp, true
		}
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// wait ends the download once everything sent is fetched.
func (d *download) wait() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.poke()
	<-d.done
	d.cancel()
	return d.err
}

// abort cancels the download and waits for it.
func (d *download) abort() {
	d.cancel()
	_ = d.wait()
}

// fetchPack reads the needed blobs of one pack through repo.LoadPackBlobs
// (as few ranged requests as the gaps allow, usually one). A blob that
// fails there is tried at its other locations.
func fetchPack(ctx context.Context, r Repo, pp *packPlan, sink blobSink) error {
	entries := make([]index.Entry, 0, len(pp.blobs))
	byID := make(map[crypto.ID]*blobPlan, len(pp.blobs))
	for _, bp := range pp.blobs {
		entries = append(entries, index.Entry{ID: bp.id, Type: pack.DataBlob, Pack: pp.id, Offset: bp.offset, Length: bp.length})
		byID[bp.id] = bp
	}
	var opts repo.PackReadOptions
	if pp.revisit {
		opts.MaxGap = revisitGap
	}
	return r.LoadPackBlobs(ctx, pp.id, entries, opts, func(e index.Entry, plain []byte, err error) error {
		bp := byID[e.ID]
		if err != nil {
			recoverBlob(ctx, r, bp, err, sink)
			return ctx.Err()
		}
		deliver(pp.id, bp, plain, sink)
		return nil
	})
}

// revisitGap is the gap read through for a pack fetched again: about a
// round trip's worth of bytes on a slow link, not PackGap's 4 MiB (the
// gaps hold what the earlier plan of the pack read).
const revisitGap = 64 << 10

// recoverBlob tries the other copies the index knows of a blob that failed
// in its planned pack (two clients may have stored it at the same time), and
// fails it when there are none or all fail too.
func recoverBlob(ctx context.Context, r Repo, bp *blobPlan, cause error, sink blobSink) {
	errs := []error{cause}
	for _, e := range r.Index().LookupAll(bp.id) {
		if e.Pack == bp.pack.id || e.Type != pack.DataBlob || ctx.Err() != nil {
			continue
		}
		var got []byte
		err := r.LoadPackBlobs(ctx, e.Pack, []index.Entry{e}, repo.PackReadOptions{}, func(_ index.Entry, plain []byte, err error) error {
			if err == nil {
				got = bytes.Clone(plain) // borrowed only during the call
			}
			return err
		})
		if err == nil && got != nil {
			deliver(e.Pack, bp, got, sink)
			return
		}
		if err == nil {
			err = fmt.Errorf("%s: data blob %s: not delivered", repo.PackName(e.Pack), bp.id.Short())
		}
		errs = append(errs, err)
	}
	if ctx.Err() != nil {
		return
	}
	sink.fail(bp, errors.Join(errs...))
}

// deliver hands a decrypted blob (read from packID) to sink, unless its
// length contradicts the one the index records: then the offsets planned
// from the recorded lengths may be wrong, and every file that needs it
// fails, naming the pack and the blob.
func deliver(packID crypto.ID, bp *blobPlan, plain []byte, sink blobSink) {
	if bp.recorded > 0 && len(plain) != int(bp.recorded) {
		sink.fail(bp, lengthMismatch(packID, bp.id, int64(bp.recorded), len(plain)))
		return
	}
	bp.size.Store(int64(len(plain)))
	sink.blob(bp, plain)
}
