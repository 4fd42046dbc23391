package archiver

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// archiver is the state of one backup run.
type archiver struct {
	repo       Repo
	opts       Options
	saver      blobSaver
	saverStats statsFunc
	index      blobIndex
	params     chunker.Params
	chunkerKey []byte
	names      *fsmeta.Names
	euid       int
	open       openFunc
	readDir    readDirFunc
	parentTree []crypto.ID // root of the parent snapshot; nil without one
	totals     scanTotals  // the scan ahead, for progress only
	// racyBefore: parent entries with a ctime at or after it are not
	// trusted (see racyWindow).
	racyBefore int64

	queue     *queue
	blobs     chan blobJob  // chunks for the blob pool
	done      chan struct{} // closed when the root tree is written
	rootTree  []crypto.ID
	links     linkTable
	chunkers  chan *chunker.Chunker  // see takeChunker; nil until first used
	chunkBufs chan []byte            // buffers of saved chunks, see copyChunk
	current   atomic.Pointer[string] // a file being read, for Progress
	stats     counters
	report    reporter
}

func newArchiver(r Repo, opts Options, saver blobSaver, stats statsFunc, parent *snapshot.Entry) (*archiver, error) {
	cfg := r.Config()
	if err := chunker.Check(cfg.Chunker); err != nil {
		return nil, err // an unknown chunker: fail before walking anything
	}
	a := &archiver{
		repo:       r,
		opts:       opts,
		saver:      saver,
		saverStats: stats,
		index:      r.Index(),
		params:     cfg.Chunker,
		chunkerKey: r.Keys().ChunkerKey(),
		names:      fsmeta.NewNames(),
		euid:       euid(),
		open:       opts.open,
		racyBefore: math.MinInt64,
		report:     reporter{warnFn: opts.Warn},
	}
	if a.open == nil {
		a.open = openSource
	}
	if a.readDir = opts.readDir; a.readDir == nil {
		a.readDir = readDirNames
	}
	if parent != nil {
		a.parentTree = parent.Snapshot.Tree
		a.racyBefore = parent.Snapshot.Time.UnixNano() - int64(racyWindow)
	}
	return a, nil
}

// run walks the backup paths and stores everything; it returns the root
// tree of the snapshot.
//
// Goroutines: Workers scan directories and read files (queue), a blob pool
// of one goroutine per core saves the chunks of large files, and with a
// parent snapshot Connections prefetchers load its trees ahead of the scan.
// The goroutine that writes the root tree closes the queue and done, which
// ends them all; an error cancels gctx, which closes the queue too.
func (a *archiver) run(ctx context.Context, paths []string, start time.Time) ([]crypto.ID, error) {
	workers := a.opts.Workers
	if workers <= 0 {
		workers = defaultWorkers()
	}
	savers := runtime.GOMAXPROCS(0)
	loaders := 0
	if a.parentTree != nil {
		loaders = max(a.repo.Connections(), 1)
	}
	a.chunkers = make(chan *chunker.Chunker, chunkersFor(runtime.GOMAXPROCS(0)))
	a.queue = newQueue(2*loaders, uint64(a.params.MinSize), cap(a.chunkers))
	a.blobs = make(chan blobJob, savers)
	// A chunk is in flight from copyChunk until its saver is done with
	// it: one being sent per chunker, the queued ones, one per saver.
	a.chunkBufs = make(chan []byte, cap(a.chunkers)+cap(a.blobs)+savers)
	a.done = make(chan struct{})
	for range cap(a.chunkers) {
		a.chunkers <- nil
	}

	root := &dirNode{path: "/"}
	if tree := pathTree(paths); !tree.leaf {
		root.virtual = tree
	}
	if a.parentTree != nil {
		root.old = newListing(a.parentTree)
	}

	g, gctx := errgroup.WithContext(ctx)
	stopClose := context.AfterFunc(gctx, a.queue.close)
	defer stopClose()
	a.queue.push(nil, []*dirNode{root})
	for range workers {
		w := &worker{a: a}
		g.Go(func() error { return w.loop(gctx) })
	}
	for range savers {
		g.Go(func() error { return a.saveBlobs(gctx) })
	}
	for range loaders {
		g.Go(func() error { return a.prefetch(gctx) })
	}
	var progressDone chan struct{}
	stopProgress := make(chan struct{})
	scanDone := make(chan struct{})
	if a.opts.Progress != nil {
		go func() {
			defer close(scanDone)
			scanPaths(gctx, paths, a.opts.Excluder, &a.totals)
		}()
		progressDone = make(chan struct{})
		go func() {
			defer close(progressDone)
			a.reportProgress(gctx, start, stopProgress)
		}()
	}
	err := g.Wait() // cancels gctx, which stops the scan
	close(stopProgress)
	if progressDone != nil {
		<-progressDone
		<-scanDone
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if a.rootTree == nil {
		return nil, errors.New("archiver: walk ended before the root tree was written (a bug)")
	}
	if a.opts.Progress != nil {
		a.current.Store(nil)
		a.opts.Progress(a.progress(start))
	}
	return a.rootTree, nil
}

// finish records the root tree and ends the run's goroutines.
func (a *archiver) finish(tree []crypto.ID) {
	a.rootTree = tree
	close(a.done)
	a.queue.close()
}
