package copy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"

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
	r := &contentReader{ctx: ctx, src: rc.src, blobs: n.Content, file: file}
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

// contentReader reads a source file's content, one blob at a time.
type contentReader struct {
	ctx   context.Context
	src   *repo.Repository
	blobs []crypto.ID
	file  string
	cur   []byte
	read  uint64
	err   error
}

func (r *contentReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(r.blobs) == 0 {
			return 0, io.EOF
		}
		id := r.blobs[0]
		plain, err := r.src.LoadBlob(r.ctx, pack.DataBlob, id)
		if err != nil {
			r.err = fmt.Errorf("file %s: data blob %s: %w", printable(r.file), id, sourceErr(err))
			return 0, r.err
		}
		r.blobs = r.blobs[1:]
		r.cur = plain
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.read += uint64(n)
	return n, nil
}
