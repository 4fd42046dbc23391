package snapshot

import (
	"context"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// Bounds on what a Prefetcher holds ahead of its walk: beyond them it
// stops prefetching until the walk catches up, and the walk loads trees
// itself.
const (
	maxPrefetchTrees = 2048
	maxPrefetchBytes = 64 << 20
)

// Prefetcher is a BlobLoader for walks over remote storage. Walk and
// WalkDir, given one as their loader, ask it to load the subtrees of each
// directory they decode (and the directory's later runs) in the
// background, a bounded number at a time, while they go through the
// entries depth first: the round trips of a directory's children are paid
// in parallel, and decrypting them runs on other cores. The newest
// prefetches are loaded first: a depth-first walk needs the children of the
// directory it just entered before the siblings queued earlier. A
// prefetched tree
// is handed out once and then forgotten; what a walk skipped is dropped
// when it leaves the directory, so memory stays bounded. It is safe for
// concurrent use; Close it when the walk is done.
type Prefetcher struct {
	l           BlobLoader
	want        func(dir []byte, n *Node) bool
	deep        bool
	ctx         context.Context // cancelled by Close: ends the prefetches
	cancel      context.CancelFunc
	concurrency int
	wg          sync.WaitGroup

	mu      sync.Mutex
	pending map[crypto.ID]*treeFetch
	bytes   int64 // of the loaded trees in pending
	// queue holds the fetches not started yet, newest last; workers (at
	// most concurrency) take from its end.
	queue   []queued
	workers int
}

type queued struct {
	id crypto.ID
	f  *treeFetch
}

// treeFetch is one prefetched tree: loaded by a background goroutine, or
// by the walk itself when it needs the tree before that goroutine started.
type treeFetch struct {
	done    chan struct{} // closed when body and err are set
	started bool
	refs    int  // Prefetch calls not yet matched by a load or Release
	counted bool // body is counted in Prefetcher.bytes
	body    []byte
	err     error
}

// PrefetchOptions configure a Prefetcher.
type PrefetchOptions struct {
	// Concurrency is how many trees are loaded at a time (the
	// repository's Connections); at least 1.
	Concurrency int
	// Want, if not nil, says which directories the walk will enter: it is
	// called from the walk's goroutine with the containing directory's
	// path, and others are not prefetched.
	Want func(dir []byte, n *Node) bool
	// Deep, for walks that enter every directory (Want nil), also
	// prefetches the subdirectories of prefetched trees, from the loading
	// goroutines, as far as the bounds allow: the walk then finds whole
	// subtrees loaded, not only the next level.
	Deep bool
}

// NewPrefetcher returns a Prefetcher loading through l. ctx bounds the
// background loads.
func NewPrefetcher(ctx context.Context, l BlobLoader, opts PrefetchOptions) *Prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	return &Prefetcher{
		l: l, want: opts.Want, deep: opts.Deep && opts.Want == nil, ctx: ctx, cancel: cancel,
		concurrency: max(opts.Concurrency, 1),
		pending:     make(map[crypto.ID]*treeFetch),
	}
}

// Close stops the background loads and waits for them.
func (p *Prefetcher) Close() {
	p.cancel()
	p.wg.Wait()
}

// LoadBlob returns a blob, the prefetched copy when there is one. A tree
// whose prefetch failed is loaded again, so the error is the caller's own.
func (p *Prefetcher) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	if t != pack.TreeBlob {
		return p.l.LoadBlob(ctx, t, id)
	}
	p.mu.Lock()
	f := p.pending[id]
	if f == nil {
		p.mu.Unlock()
		return p.l.LoadBlob(ctx, t, id)
	}
	p.dropRefLocked(id, f)
	if !f.started {
		// Not begun yet: the walk would wait behind other prefetches,
		// so it loads the tree itself.
		f.started = true
		p.mu.Unlock()
		body, err := p.l.LoadBlob(ctx, t, id)
		p.finish(id, f, body, err)
		return body, err
	}
	p.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return p.l.LoadBlob(ctx, t, id)
	}
	return f.body, nil
}

// Prefetch starts loading trees in the background, unless they are
// pending already, until the bounds are reached. It returns how many of
// ids (the first ones) it took; each taken one is matched by a load or a
// Release.
func (p *Prefetcher) Prefetch(ids ...crypto.ID) int {
	if p.ctx.Err() != nil {
		return 0
	}
	p.mu.Lock()
	taken := len(ids)
	first := len(p.queue)
	for i, id := range ids {
		if f := p.pending[id]; f != nil {
			f.refs++
			continue
		}
		if len(p.pending) >= maxPrefetchTrees || p.bytes >= maxPrefetchBytes {
			taken = i
			break
		}
		f := &treeFetch{done: make(chan struct{}), refs: 1}
		p.pending[id] = f
		p.queue = append(p.queue, queued{id, f})
	}
	// Workers take from the end: reversed, the batch is loaded in the
	// order the walk will reach it.
	slices.Reverse(p.queue[first:])
	spawn := min(p.concurrency-p.workers, len(p.queue)-first)
	p.workers += max(spawn, 0)
	p.mu.Unlock()
	for range spawn {
		p.wg.Add(1)
		go p.work()
	}
	return taken
}

// Release gives up prefetches a walk turned out not to need (a skipped
// directory); a tree another Prefetch still wants stays.
func (p *Prefetcher) Release(ids ...crypto.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if f := p.pending[id]; f != nil {
			p.dropRefLocked(id, f)
		}
	}
}

// dropRefLocked removes one reference to f, and f when none is left.
func (p *Prefetcher) dropRefLocked(id crypto.ID, f *treeFetch) {
	f.refs--
	if f.refs > 0 {
		return
	}
	delete(p.pending, id)
	if f.counted {
		p.bytes -= int64(len(f.body))
		f.counted = false
	}
}

// work loads queued trees, newest first, until the queue is empty or the
// Prefetcher is closed.
func (p *Prefetcher) work() {
	defer p.wg.Done()
	// wg.Add happens in Prefetch before the goroutine starts, so Close
	// waits for every worker.
	for {
		p.mu.Lock()
		var next queued
		for len(p.queue) > 0 && next.f == nil {
			next = p.queue[len(p.queue)-1]
			p.queue = p.queue[:len(p.queue)-1]
			if next.f.started || p.pending[next.id] != next.f {
				next.f = nil // the walk took it, or released it
			}
		}
		if next.f == nil || p.ctx.Err() != nil {
			// Fetches left queued at Close are never waited for: a
			// walk that is still running loads them itself.
			p.workers--
			p.mu.Unlock()
			return
		}
		next.f.started = true
		p.mu.Unlock()
		body, err := p.l.LoadBlob(p.ctx, pack.TreeBlob, next.id)
		if err == nil && p.deep {
			// Before the walk can have the tree: it may consume the
			// children only after they are pending.
			p.prefetchChildren(body)
		}
		p.finish(next.id, next.f, body, err)
	}
}

// prefetchChildren prefetches the subtrees of the directories in a tree
// body (Deep). A body that does not decode is left to the walk, which
// reports it.
func (p *Prefetcher) prefetchChildren(body []byte) {
	nodes, err := DecodeTree(body)
	if err != nil {
		return
	}
	var ids []crypto.ID
	for i := range nodes {
		if nodes[i].Type == NodeDir {
			ids = append(ids, nodes[i].Subtree...)
		}
	}
	p.Prefetch(ids...)
}

// finish records a load's outcome and wakes whoever waits for it.
func (p *Prefetcher) finish(id crypto.ID, f *treeFetch, body []byte, err error) {
	p.mu.Lock()
	f.body, f.err = body, err
	if err == nil && p.pending[id] == f {
		p.bytes += int64(len(body))
		f.counted = true
	}
	p.mu.Unlock()
	close(f.done)
}

// prefetchRun is called by walkDir with a decoded run of directory dir:
// it prefetches the subtrees of the directories in it that want accepts,
// and returns them for Release once the walk has left the run.
func (p *Prefetcher) prefetchRun(dir []byte, nodes []Node) []crypto.ID {
	var ids []crypto.ID
	for i := range nodes {
		n := &nodes[i]
		if n.Type != NodeDir || len(n.Subtree) == 0 || (p.want != nil && !p.want(dir, n)) {
			continue
		}
		ids = append(ids, n.Subtree...)
	}
	return ids[:p.Prefetch(ids...)]
}
