package snapshot

import (
	"context"
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
// in parallel, and decrypting them runs on other cores. A prefetched tree
// is handed out once and then forgotten; what a walk skipped is dropped
// when it leaves the directory, so memory stays bounded. It is safe for
// concurrent use; Close it when the walk is done.
type Prefetcher struct {
	l      BlobLoader
	want   func(dir []byte, n *Node) bool
	ctx    context.Context // cancelled by Close: ends the prefetches
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[crypto.ID]*treeFetch
	bytes   int64 // of the loaded trees in pending
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

// NewPrefetcher returns a Prefetcher loading through l, concurrency trees
// at a time. want, if not nil, says which directories a walk will enter
// (called from the walk, with the containing directory's path): others
// are not prefetched. ctx bounds the background loads.
func NewPrefetcher(ctx context.Context, l BlobLoader, concurrency int, want func(dir []byte, n *Node) bool) *Prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	return &Prefetcher{
		l: l, want: want, ctx: ctx, cancel: cancel,
		sem:     make(chan struct{}, max(concurrency, 1)),
		pending: make(map[crypto.ID]*treeFetch),
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
	for i, id := range ids {
		if p.ctx.Err() != nil {
			return i
		}
		p.mu.Lock()
		if f := p.pending[id]; f != nil {
			f.refs++
			p.mu.Unlock()
			continue
		}
		if len(p.pending) >= maxPrefetchTrees || p.bytes >= maxPrefetchBytes {
			p.mu.Unlock()
			return i
		}
		f := &treeFetch{done: make(chan struct{}), refs: 1}
		p.pending[id] = f
		p.mu.Unlock()
		p.wg.Add(1)
		go p.fetch(id, f)
	}
	return len(ids)
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

func (p *Prefetcher) fetch(id crypto.ID, f *treeFetch) {
	defer p.wg.Done()
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		p.mu.Lock()
		taken := f.started
		f.started = true
		p.mu.Unlock()
		if !taken {
			p.finish(id, f, nil, p.ctx.Err())
		}
		return
	}
	defer func() { <-p.sem }()
	p.mu.Lock()
	if f.started { // the walk took it
		p.mu.Unlock()
		return
	}
	f.started = true
	p.mu.Unlock()
	body, err := p.l.LoadBlob(p.ctx, pack.TreeBlob, id)
	p.finish(id, f, body, err)
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
