package fusefs

import (
	"context"
	"errors"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/lru"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// BlobCacheSize is the default bound of the decrypted data blobs kept for
// reads: 64 MiB holds a few dozen blobs of the default chunker, enough for
// the read-ahead of several files read at once, and small enough for any
// machine.
const BlobCacheSize = 64 << 20

// blobLoader loads a blob's plaintext, checked against its ID. The
// repository satisfies it.
type blobLoader interface {
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
}

// blobCache loads data blobs through a bounded LRU, and loads a blob
// wanted by several readers at once only once: the kernel reads a file in
// 128 KiB requests, several in parallel, and a 1 MiB blob serves eight of
// them.
type blobCache struct {
	loader blobLoader
	cache  *lru.LRU[crypto.ID, []byte]

	mu       sync.Mutex
	inflight map[crypto.ID]*blobCall
	// prefetching bounds the loads started ahead of sequential readers.
	prefetching chan struct{}
}

// maxPrefetch bounds the blob loads running ahead of readers, for all
// files together.
const maxPrefetch = 8

type blobCall struct {
	done chan struct{}
	data []byte
	err  error
}

func newBlobCache(l blobLoader, budget int64) *blobCache {
	return &blobCache{loader: l, cache: lru.New[crypto.ID, []byte](budget), inflight: map[crypto.ID]*blobCall{},
		prefetching: make(chan struct{}, maxPrefetch)}
}

// get returns the plaintext of data blob id. The slice is shared: callers
// must not modify it.
func (c *blobCache) get(ctx context.Context, id crypto.ID) ([]byte, error) {
	for {
		if data, ok := c.cache.Get(id); ok {
			return data, nil
		}
		c.mu.Lock()
		call, loading := c.inflight[id]
		if !loading {
			call = &blobCall{done: make(chan struct{})}
			c.inflight[id] = call
		}
		c.mu.Unlock()
		if !loading {
			call.data, call.err = c.loader.LoadBlob(ctx, pack.DataBlob, id)
			if call.err == nil {
				c.cache.Add(id, call.data, int64(cap(call.data)))
			}
			c.mu.Lock()
			delete(c.inflight, id)
			c.mu.Unlock()
			close(call.done)
			return call.data, call.err
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if call.err == nil {
			return call.data, nil
		}
		// The loading reader's request may have been cancelled while
		// ours is still wanted: try again ourselves.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !isCancel(call.err) {
			return nil, call.err
		}
	}
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// prefetch starts loading blob id in the background unless it is cached,
// already loading, or maxPrefetch loads are running: a sequential reader
// then finds the next blobs decrypted when it gets there, instead of
// waiting for one round trip per blob. ctx is the mount's, not a
// request's, since the load outlives the request that asked for it.
func (c *blobCache) prefetch(ctx context.Context, id crypto.ID) {
	if _, ok := c.cache.Get(id); ok {
		return
	}
	c.mu.Lock()
	_, loading := c.inflight[id]
	c.mu.Unlock()
	if loading {
		return
	}
	select {
	case c.prefetching <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-c.prefetching }()
		_, _ = c.get(ctx, id) // a failure is met again by the read itself
	}()
}
