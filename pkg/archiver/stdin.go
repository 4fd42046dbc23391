package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// StdinSource is a stream backed up as one regular file at the snapshot
// root, for database dumps and the like (restic backup --stdin). The
// snapshot's paths are ["/"+Name]; the file gets mode 0600, the current
// user and group, and the time the stream ended as its times.
type StdinSource struct {
	// Name is the file's name at the snapshot root ("stdin" when empty):
	// not "." or "..", without '/' or NUL.
	Name string
	// Reader is read to its end. A read error fails the backup: unlike a
	// file that vanished, a stream cannot be stored in part.
	Reader io.Reader
	// Wait, if not nil, is called once Reader returned io.EOF, before
	// anything is committed. An error from it (a dump command's exit
	// status) fails the backup, and no snapshot is written.
	Wait func() error
}

// DefaultStdinName is the file name of a stdin backup without a name.
const DefaultStdinName = "stdin"

// name returns the file's name, checked.
func (s *StdinSource) name() (string, error) {
	name := s.Name
	if name == "" {
		name = DefaultStdinName
	}
	if err := snapshot.ValidName([]byte(name)); err != nil {
		return "", fmt.Errorf("stdin file name: %w (give a plain file name)", err)
	}
	return name, nil
}

// sourcePaths returns the snapshot's paths: the cleaned backup paths, or
// for a stream the one file it becomes.
func sourcePaths(opts Options) ([]string, error) {
	if opts.Stdin == nil {
		return cleanPaths(opts.Paths)
	}
	if len(opts.Paths) > 0 {
		return nil, errors.New("a stdin backup takes no paths")
	}
	name, err := opts.Stdin.name()
	if err != nil {
		return nil, err
	}
	return []string{"/" + name}, nil
}

// runSource stores what the backup reads, a tree of files or a stream,
// and returns the root tree.
func (a *archiver) runSource(ctx context.Context, paths []string, start time.Time) ([]crypto.ID, error) {
	if a.opts.Stdin == nil {
		return a.run(ctx, paths, start)
	}
	return a.runStdin(ctx, a.opts.Stdin, paths[0], start)
}

// runStdin stores the stream as the file at path (directly below the
// root) and writes the root tree. The stream is cut by one chunker here;
// its chunks are hashed, compressed and sealed by up to one goroutine per
// core, so memory is the scan buffer plus one chunk per core.
func (a *archiver) runStdin(ctx context.Context, src *StdinSource, path string, start time.Time) ([]crypto.ID, error) {
	a.current.Store(&path)
	stopProgress := make(chan struct{})
	var progressDone chan struct{}
	if a.opts.Progress != nil {
		progressDone = make(chan struct{})
		go func() {
			defer close(progressDone)
			a.reportProgress(ctx, start, stopProgress)
		}()
	}
	content, size, err := a.saveStream(ctx, path, src.Reader)
	close(stopProgress)
	if progressDone != nil {
		<-progressDone
	}
	if err != nil {
		return nil, err
	}
	if src.Wait != nil {
		if err := src.Wait(); err != nil {
			return nil, err
		}
	}
	now := time.Now().UnixNano()
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	node := snapshot.Node{
		Name: []byte(path[1:]), Type: snapshot.NodeFile, Mode: 0o600,
		UID: uid, GID: gid, User: a.names.User(uid), Group: a.names.Group(gid),
		MTime: now, CTime: now, ATime: now, Size: size, Links: 1, Content: content,
	}
	tw := snapshot.NewTreeWriter(ctx, a.saver)
	if err := tw.Add(node); err != nil {
		return nil, fmt.Errorf("stdin %s: %w", path, err)
	}
	tree, err := tw.Close()
	if err != nil {
		return nil, fmt.Errorf("stdin %s: save tree: %w", path, err)
	}
	a.stats.filesNew.Add(1)
	a.stats.bytesDone.Add(size)
	a.current.Store(nil)
	if a.opts.Progress != nil {
		a.opts.Progress(a.progress(start))
	}
	return tree, nil
}

// saveStream chunks r and saves the chunks, returning the content list
// and the byte count. Any read error is returned: the stream is not
// stored.
func (a *archiver) saveStream(ctx context.Context, path string, r io.Reader) ([]crypto.ID, uint64, error) {
	maxSize := a.params.MaxSize
	c, err := chunker.New(a.params, a.chunkerKey, make([]byte, maxSize+maxSize/chunkerSlackDivisor))
	if err != nil {
		return nil, 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	var (
		mu      sync.Mutex
		content []crypto.ID
		counter countingReader
	)
	counter.reset(ctxReader{gctx, r}, &a.stats.bytesRead)
	c.Reset(&counter)
	var readErr error
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			if counter.err != nil {
				readErr = counter.err
			}
			break
		}
		data := append([]byte(nil), chunk...) // the chunker reuses its buffer
		mu.Lock()
		idx := len(content)
		content = append(content, crypto.ID{})
		mu.Unlock()
		g.Go(func() error {
			id, err := a.saver.SaveBlob(gctx, pack.DataBlob, data)
			if err != nil {
				return fmt.Errorf("save %s: %w", path, err)
			}
			mu.Lock()
			content[idx] = id
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	if readErr != nil {
		return nil, 0, fmt.Errorf("read %s: %w; nothing was saved", path, readErr)
	}
	return content, uint64(counter.n), nil
}

// ctxReader stops reading once ctx is done (a saver failed, or the run
// was interrupted), so the chunker does not drain a long stream for
// nothing. A read already blocked is not interrupted.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
