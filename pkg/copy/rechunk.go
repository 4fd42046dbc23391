package copy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// rechunker copies one snapshot by re-chunking (ModeRechunk): it rebuilds
// every directory with the destination's content IDs and stores every
// file's content split by the destination's chunker.
type rechunker struct {
	*copier
	saver  *repo.Saver
	hasher *crypto.IDHasher
	chunk  *chunker.Chunker
	counts Counts
	// done holds the directories re-encoded in this snapshot; they join
	// copier.dirs once it is committed.
	done map[string][]crypto.ID
}

func (rc *rechunker) run(ctx context.Context, root []crypto.ID) ([]crypto.ID, error) {
	cfg := rc.dst.Config()
	ch, err := chunker.New(cfg.Chunker, rc.dst.Keys().ChunkerKey(), nil)
	if err != nil {
		return nil, fmt.Errorf("destination chunker: %w", err)
	}
	rc.chunk = ch
	rc.hasher = rc.dst.Keys().NewIDHasher()
	return rc.dir(ctx, root, "/")
}

// dirKey is the memo key of a source directory: its subtree IDs.
func dirKey(subtree []crypto.ID) string {
	b := make([]byte, 0, len(subtree)*crypto.IDSize)
	for _, id := range subtree {
		b = append(b, id[:]...)
	}
	return string(b)
}

// dir re-encodes the source directory whose tree blobs are subtree. The
// entries come sorted from the source and keep their order.
func (rc *rechunker) dir(ctx context.Context, subtree []crypto.ID, dir string) ([]crypto.ID, error) {
	key := dirKey(subtree)
	if ids, ok := rc.dirs[key]; ok {
		return ids, nil
	}
	if ids, ok := rc.done[key]; ok {
		return ids, nil
	}
	tw := snapshot.NewTreeWriter(ctx, rc)
	for _, id := range subtree {
		plain, err := rc.src.LoadBlob(ctx, pack.TreeBlob, id)
		if err != nil {
			return nil, fmt.Errorf("directory %s: tree blob %s: %w", printable(dir), id, sourceErr(err))
		}
		rc.counts.BytesRead += int64(len(plain))
		rc.readBytes(int64(len(plain)))
		nodes, err := snapshot.DecodeTree(plain)
		if err != nil {
			return nil, fmt.Errorf("directory %s: tree blob %s: %w", printable(dir), id, err)
		}
		for _, n := range nodes {
			p := path.Join(dir, string(n.Name))
			switch n.Type {
			case snapshot.NodeDir:
				if n.Subtree, err = rc.dir(ctx, n.Subtree, p); err != nil {
					return nil, err
				}
			case snapshot.NodeFile:
				if n.Content, err = rc.file(ctx, &n, p); err != nil {
					return nil, err
				}
			}
			if err := tw.Add(n); err != nil {
				return nil, fmt.Errorf("directory %s: %w", printable(dir), err)
			}
		}
	}
	ids, err := tw.Close()
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", printable(dir), err)
	}
	rc.done[key] = ids
	return ids, nil
}

// file reads a file's content from the source, splits it with the
// destination's chunker and stores the chunks.
func (rc *rechunker) file(ctx context.Context, n *snapshot.Node, file string) ([]crypto.ID, error) {
	if len(n.Content) == 0 {
		return nil, nil
	}
	r := newContentReader(ctx, rc.src, n.Content, file)
	defer r.close()
	rc.chunk.Reset(r)
	var ids []crypto.ID
	for {
		chunk, err := rc.chunk.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if r.err != nil {
				err = r.err
			}
			return nil, err
		}
		id, err := rc.SaveBlob(ctx, pack.DataBlob, chunk)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.read != n.Size {
		return nil, fmt.Errorf("file %s: its blobs hold %d bytes, its tree entry says %d: %w; run cairn check --read-data on the source",
			printable(file), r.read, n.Size, repo.ErrCorrupt)
	}
	rc.counts.FilesRechunked++
	rc.counts.BytesRead += int64(r.read)
	rc.readBytes(int64(r.read))
	return ids, nil
}

// SaveBlob stores a blob in the destination and counts it; it is the
// TreeWriter's BlobSaver too. It is called from one goroutine.
func (rc *rechunker) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error) {
	id := rc.hasher.Sum(data)
	added, err := rc.saver.SaveBlobID(ctx, t, id, data)
	if err != nil {
		return id, err
	}
	switch {
	case added && t == pack.TreeBlob:
		rc.counts.TreesStored++
	case added:
		rc.counts.DataStored++
	case t == pack.DataBlob:
		rc.counts.DataDeduped++
	}
	return id, nil
}

// readAhead is how many blobs of a file contentReader fetches ahead of
// the chunker: per-request latency, not bandwidth, bounds one stream.
const readAhead = 4

type fetched struct {
	plain []byte
	err   error
}

// contentReader reads a source file's content in order, fetching up to
// readAhead blobs at once. close stops and waits for the fetches.
type contentReader struct {
	file    string
	results []chan fetched // one per blob, buffered
	slots   chan struct{}
	next    int
	cur     []byte
	read    uint64
	err     error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ctx     context.Context
}

func newContentReader(ctx context.Context, src *repo.Repository, blobs []crypto.ID, file string) *contentReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &contentReader{file: file, results: make([]chan fetched, len(blobs)), slots: make(chan struct{}, readAhead),
		cancel: cancel, ctx: ctx}
	for i := range r.results {
		r.results[i] = make(chan fetched, 1)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i, id := range blobs {
			select {
			case r.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				plain, err := src.LoadBlob(ctx, pack.DataBlob, id)
				if err != nil {
					err = fmt.Errorf("file %s: data blob %s: %w", printable(file), id, sourceErr(err))
				}
				r.results[i] <- fetched{plain, err}
			}()
		}
	}()
	return r
}

func (r *contentReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == len(r.results) {
			return 0, io.EOF
		}
		select {
		case f := <-r.results[r.next]:
			<-r.slots
			r.next++
			if f.err != nil {
				r.err = f.err
				return 0, r.err
			}
			r.cur = f.plain
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
			return 0, r.err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.read += uint64(n)
	return n, nil
}

// close stops fetching and waits until no fetch is left.
func (r *contentReader) close() {
	r.cancel()
	r.wg.Wait()
}
