package restorer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// errContentDiffers means a file on disk does not hold the snapshot's
// content.
var errContentDiffers = errors.New("content differs from the snapshot")

// contentChecker reads files on disk and checks them against a snapshot's
// content IDs: the file must be exactly the file's blobs, in order, each
// hashing to its ID. The blob sizes come from the download, so no
// re-chunking is needed.
type contentChecker struct {
	hasher *crypto.IDHasher
	buf    []byte
}

// check reports nil when the file at path matches f's content,
// errContentDiffers when it does not, and other errors when it cannot be
// read.
func (c *contentChecker) check(ctx context.Context, path string, f *fileState) error {
	file, err := openRead(path)
	if err != nil {
		return err
	}
	defer file.Close()
	for _, bp := range f.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := bp.size.Load()
		if size < 0 {
			return fmt.Errorf("blob %s was not read", bp.id.Short())
		}
		if int64(cap(c.buf)) < size {
			c.buf = make([]byte, size)
		}
		chunk := c.buf[:size]
		if _, err := io.ReadFull(file, chunk); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errContentDiffers
			}
			return err
		}
		if c.hasher.Sum(chunk) != bp.id {
			return errContentDiffers
		}
	}
	var one [1]byte
	switch n, err := file.Read(one[:]); {
	case n > 0:
		return errContentDiffers
	case err != nil && err != io.EOF:
		return err
	}
	return nil
}

// checkFiles runs check(f) for files, one worker per core, each with its
// own checker.
func checkFiles(ctx context.Context, keys *crypto.Keys, files []*fileState, check func(ctx context.Context, c *contentChecker, f *fileState)) error {
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *fileState)
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			c := &contentChecker{hasher: keys.NewIDHasher()}
			for f := range work {
				check(gctx, c, f)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(work)
		for _, f := range files {
			select {
			case work <- f:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// verifyRestored reads back the files of a batch (restore --verify) while
// they are still under their temporary names and owner-readable, checks
// their content, and only then renames them into place and applies their
// metadata. A file that fails is removed and reported.
func (rs *restorer) verifyRestored(ctx context.Context, files []*fileState) error {
	err := checkFiles(ctx, rs.repo.Keys(), files, func(ctx context.Context, c *contentChecker, f *fileState) {
		f.mu.Lock()
		ready := f.finished && !f.failed && !f.renamed
		f.mu.Unlock()
		if !ready {
			return
		}
		err := c.check(ctx, f.temp, f)
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		if err != nil {
			rs.writer.removeTemp(f)
			f.failed = true
			err = fmt.Errorf("verify: %w", err)
		} else {
			err = rs.writer.install(f)
		}
		f.mu.Unlock()
		if err != nil {
			rs.errs.add(f.path, err)
			return
		}
		rs.installed(f)
	})
	if err != nil {
		rs.writer.dropUninstalled(files)
	}
	return err
}
