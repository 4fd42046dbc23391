package restorer

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// maxPrefetchedTrees bounds the tree blobs loaded ahead of the walk.
const maxPrefetchedTrees = 4096

// treeLoader is the walk's BlobLoader. The walk is depth-first and loads one
// tree at a time, which on a remote store means one round trip per
// directory in sequence; treeLoader hides that by loading the subtrees of
// every directory it has seen in the background, Connections at a time,
// and decrypting them on other cores. A prefetched tree is handed out once
// and then forgotten, so memory stays bounded by maxPrefetchedTrees.
type treeLoader struct {
	r      Repo
	ctx    context.Context // cancelled by close: ends the prefetches
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	cache map[crypto.ID]*treeFetch
}

type treeFetch struct {
	done chan struct{}
	body []byte
	err  error
	// claimed is set by whoever loads the tree: the prefetch once it got
	// a connection, or the walk when it needs the tree before then, so
	// the walk never waits behind prefetches queued ahead of it.
	claimed atomic.Bool
}

func newTreeLoader(ctx context.Context, r Repo, connections int) *treeLoader {
	ctx, cancel := context.WithCancel(ctx)
	return &treeLoader{
		r: r, ctx: ctx, cancel: cancel,
		sem:   make(chan struct{}, max(connections, 1)),
		cache: make(map[crypto.ID]*treeFetch),
	}
}

// close stops the prefetches and waits for them.
func (l *treeLoader) close() {
	l.cancel()
	l.wg.Wait()
}

// LoadBlob returns a tree, prefetched if it was, and starts prefetching its
// subtrees.
func (l *treeLoader) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	if t != pack.TreeBlob {
		return l.r.LoadBlob(ctx, t, id)
	}
	l.mu.Lock()
	tf := l.cache[id]
	delete(l.cache, id)
	l.mu.Unlock()
	if tf != nil && tf.claimed.CompareAndSwap(false, true) {
		tf = nil // not started yet: load it now, below
	}
	if tf != nil {
		select {
		case <-tf.done:
			if tf.err == nil {
				return tf.body, nil
			}
			// Load it again below, so the error is the walk's own.
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	body, err := l.r.LoadBlob(ctx, t, id)
	if err == nil {
		l.prefetchChildren(body)
	}
	return body, err
}

// prefetchChildren starts loading the subtrees of the directories in a
// tree body, while there is room.
func (l *treeLoader) prefetchChildren(body []byte) {
	nodes, err := snapshot.DecodeTree(body)
	if err != nil {
		return // the walk decodes it too and reports the error
	}
	for i := range nodes {
		if nodes[i].Type != snapshot.NodeDir {
			continue
		}
		for _, id := range nodes[i].Subtree {
			if !l.prefetch(id) {
				return
			}
		}
	}
}

// prefetch starts loading one tree unless it is already known or the cache
// is full (then it reports false).
func (l *treeLoader) prefetch(id crypto.ID) bool {
	if l.ctx.Err() != nil {
		return false
	}
	l.mu.Lock()
	if _, ok := l.cache[id]; ok {
		l.mu.Unlock()
		return true
	}
	if len(l.cache) >= maxPrefetchedTrees {
		l.mu.Unlock()
		return false
	}
	tf := &treeFetch{done: make(chan struct{})}
	l.cache[id] = tf
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(tf.done)
		select {
		case l.sem <- struct{}{}:
		case <-l.ctx.Done():
			tf.err = l.ctx.Err()
			return
		}
		if !tf.claimed.CompareAndSwap(false, true) {
			<-l.sem
			return // the walk loads it itself
		}
		tf.body, tf.err = l.r.LoadBlob(l.ctx, pack.TreeBlob, id)
		<-l.sem
		if tf.err == nil {
			l.prefetchChildren(tf.body)
		}
	}()
	return true
}
