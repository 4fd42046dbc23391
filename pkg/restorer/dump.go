package restorer

import (
	"context"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// maxDumpAhead bounds the blobs Dump loads ahead of the one it writes (at
// most 8 MiB each with the default chunker).
const maxDumpAhead = 8

// Dump writes the content of the file at path in snap to w (cairn dump). It
// loads only the trees on the path, then the file's blobs one by one with a
// few loaded ahead in parallel, writing them in order as they arrive, so
// memory stays small whatever the file's size.
func Dump(ctx context.Context, r Repo, snap *snapshot.Snapshot, path string, w io.Writer) error {
	n, err := snapshot.FindPath(ctx, r, snap.Tree, path)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	if n.Type != snapshot.NodeFile {
		return fmt.Errorf("dump %s: it is a %s; dump writes the content of one file or an archive of a directory", path, n.Type)
	}
	return writeContent(ctx, r, n, path, w)
}

// writeContent writes the content of the file node n (at snapshot path
// name, for messages) to w: its blobs one by one, with a few loaded ahead in
// parallel, in order as they arrive. Every blob is checked as it is loaded
// (LoadBlob), and the content must come to exactly n.Size bytes: nothing
// more is written, and an error says when there was less, so the caller
// (Dump, DumpArchive) never passes on a silently short file.
func writeContent(ctx context.Context, r Repo, n *snapshot.Node, name string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type loaded struct {
		data []byte
		err  error
	}
	ahead := min(max(r.Connections(), 1), maxDumpAhead)
	queue := make(chan chan loaded, ahead) // results in content order
	go func() {
		defer close(queue)
		for _, id := range n.Content {
			ch := make(chan loaded, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func(id crypto.ID) {
				data, err := r.LoadBlob(ctx, pack.DataBlob, id)
				ch <- loaded{data, err}
			}(id)
		}
	}()

	var written uint64
	for i := 0; ; i++ {
		var ch chan loaded
		var ok bool
		select {
		case ch, ok = <-queue:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			break
		}
		var res loaded
		select {
		case res = <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil {
			return fmt.Errorf("dump %s: blob %d of %d: %w", name, i+1, len(n.Content), res.err)
		}
		if written+uint64(len(res.data)) > n.Size {
			return fmt.Errorf("dump %s: content is longer than the %d bytes the snapshot says: the snapshot is inconsistent", name, n.Size)
		}
		if _, err := w.Write(res.data); err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		written += uint64(len(res.data))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if written != n.Size {
		return fmt.Errorf("dump %s: content is %d bytes, the snapshot says %d: the snapshot is inconsistent", name, written, n.Size)
	}
	return nil
}

// dumpBuffer is the size of DumpRange's reads.
const dumpBuffer = 1 << 20

// DumpRange writes length bytes of the file node's content starting at
// offset to w (length < 0: to the end). It loads only the blobs covering
// the range when the index records their plaintext lengths (see
// FileReader), else the blobs from the start of the file. A range that
// extends past the end of the file is cut there.
func DumpRange(ctx context.Context, r Repo, node *snapshot.Node, offset, length int64, w io.Writer) error {
	if node.Type != snapshot.NodeFile {
		return fmt.Errorf("dump %s: it is a %s, not a file", node.Name, node.Type)
	}
	if offset < 0 {
		return fmt.Errorf("dump %s: negative offset %d", node.Name, offset)
	}
	end := int64(node.Size)
	if length >= 0 && offset+length < end {
		end = offset + length
	}
	fr := NewFileReader(r, node)
	buf := make([]byte, min(dumpBuffer, max(end-offset, 0)))
	for pos := offset; pos < end; {
		chunk := buf[:min(int64(len(buf)), end-pos)]
		n, err := fr.ReadAtContext(ctx, chunk, pos)
		if n < len(chunk) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("dump %s at %d: %w", node.Name, pos+int64(n), err)
		}
		if _, err := w.Write(chunk); err != nil {
			return fmt.Errorf("dump %s: %w", node.Name, err)
		}
		pos += int64(n)
	}
	return ctx.Err()
}
