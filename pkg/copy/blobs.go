package copy

import (
	"context"
	"errors"
	"fmt"
	"path"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// moveBlobs copies the blobs of the snapshot with root tree as they are
// (ModeBlobs): every tree blob, and the data blobs the destination lacks,
// read pack by pack. The root keeps its IDs, so it is returned unchanged.
func (c *copier) moveBlobs(ctx context.Context, saver *repo.Saver, root []crypto.ID) ([]crypto.ID, Counts, error) {
	var counts Counts
	// needed maps each data blob the destination lacks to a file that
	// uses it, so that a failure names the file.
	needed := make(map[crypto.ID]string)
	seenData := make(map[crypto.ID]struct{})
	err := c.walkTrees(ctx, saver, root, &counts, func(n *snapshot.Node, file string) {
		for _, b := range n.Content {
			if _, ok := seenData[b]; ok {
				continue
			}
			seenData[b] = struct{}{}
			if hasData(c.dst, b) {
				counts.DataDeduped++
			} else {
				needed[b] = file
			}
		}
	})
	if err != nil {
		return nil, counts, err
	}

	byPack := make(map[crypto.ID][]index.Entry)
	for b, file := range needed {
		e, ok := dataEntry(c.src, b)
		if !ok {
			return nil, counts, fmt.Errorf("file %s: data blob %s is not in the source's index: %w; run cairn check on the source",
				printable(file), b, repo.ErrBlobNotFound)
		}
		byPack[e.Pack] = append(byPack[e.Pack], e)
	}
	c.report(func(p *Progress) { p.Packs, p.TotalPacks = 0, len(byPack) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Connections)
	results := make(chan Counts, len(byPack))
	for packID, entries := range byPack {
		g.Go(func() error {
			pc, err := c.movePack(gctx, saver, packID, entries, needed)
			results <- pc
			if err == nil {
				c.report(func(p *Progress) { p.Packs++; p.Bytes += pc.BytesRead })
			}
			return err
		})
	}
	err = g.Wait()
	close(results)
	for pc := range results {
		counts.DataStored += pc.DataStored
		counts.DataDeduped += pc.DataDeduped
		counts.BytesRead += pc.BytesRead
	}
	if err != nil {
		return nil, counts, err
	}
	return root, counts, nil
}

// treeBatch is how many tree blobs walkTrees loads before it looks at
// their entries: it bounds the decoded nodes held at once.
const treeBatch = 256

// queuedTree is a tree blob to load, with its directory's path.
type queuedTree struct {
	id  crypto.ID
	dir string
}

// walkTrees loads every tree blob under root from the source, level by
// level with c.opts.Connections loads at once, stores each in the
// destination under its own ID, and calls file for every file entry (from
// this goroutine). Trees stored by a snapshot this run committed are
// complete in the destination and not walked again.
func (c *copier) walkTrees(ctx context.Context, saver *repo.Saver, root []crypto.ID, counts *Counts, file func(n *snapshot.Node, path string)) error {
	seen := make(map[crypto.ID]struct{})
	var queue []queuedTree
	enqueue := func(ids []crypto.ID, dir string) {
		for _, id := range ids {
			if _, ok := seen[id]; ok {
				continue
			}
			seen[id] = struct{}{}
			if _, ok := c.trees[id]; ok {
				continue
			}
			queue = append(queue, queuedTree{id, dir})
		}
	}
	enqueue(root, "/")
	for len(queue) > 0 {
		batch := queue[:min(len(queue), treeBatch)]
		queue = queue[len(batch):]
		nodes := make([][]snapshot.Node, len(batch))
		added := make([]bool, len(batch))
		read := make([]int, len(batch))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.opts.Connections)
		for i, q := range batch {
			g.Go(func() error {
				plain, err := c.src.LoadBlob(gctx, pack.TreeBlob, q.id)
				if err != nil {
					return fmt.Errorf("directory %s: tree blob %s: %w", printable(q.dir), q.id, sourceErr(err))
				}
				if nodes[i], err = snapshot.DecodeTree(plain); err != nil {
					return fmt.Errorf("directory %s: tree blob %s: %w", printable(q.dir), q.id, err)
				}
				read[i] = len(plain)
				added[i], err = saver.SaveBlobID(gctx, pack.TreeBlob, q.id, plain)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var batchBytes int64
		for _, n := range read {
			batchBytes += int64(n)
		}
		c.readBytes(batchBytes)
		for i, q := range batch {
			counts.BytesRead += int64(read[i])
			if added[i] {
				counts.TreesStored++
			}
			c.pendingTrees = append(c.pendingTrees, q.id)
			for j := range nodes[i] {
				n := &nodes[i][j]
				p := path.Join(q.dir, string(n.Name))
				switch n.Type {
				case snapshot.NodeDir:
					enqueue(n.Subtree, p)
				case snapshot.NodeFile:
					file(n, p)
				}
			}
		}
	}
	return nil
}

// movePack reads entries from one source pack and saves each blob into
// the destination. A blob that fails its checks there is tried from the
// source's other copies (LoadBlob) before the snapshot fails.
func (c *copier) movePack(ctx context.Context, saver *repo.Saver, packID crypto.ID, entries []index.Entry, files map[crypto.ID]string) (Counts, error) {
	var counts Counts
	save := func(id crypto.ID, plain []byte) error {
		added, err := saver.SaveBlobID(ctx, pack.DataBlob, id, plain)
		if err != nil {
			return err
		}
		counts.BytesRead += int64(len(plain))
		if added {
			counts.DataStored++
		} else {
			counts.DataDeduped++ // stored meanwhile by a concurrent run of this Saver
		}
		return nil
	}
	err := c.src.LoadPackBlobs(ctx, packID, entries, repo.PackReadOptions{}, func(e index.Entry, plain []byte, err error) error {
		if err == nil {
			return save(e.ID, plain)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		other, lerr := c.src.LoadBlob(ctx, pack.DataBlob, e.ID)
		if lerr != nil {
			return fmt.Errorf("file %s: data blob %s (pack %s): %w", printable(files[e.ID]), e.ID, packID.Short(), sourceErr(err))
		}
		return save(e.ID, other)
	})
	return counts, err
}

// sourceErr says what a failure to read from the source means.
func sourceErr(err error) error {
	if errors.Is(err, repo.ErrCorrupt) {
		return fmt.Errorf("damaged in the source repository (run cairn check --read-data on it): %w", err)
	}
	return fmt.Errorf("could not be read from the source repository: %w", err)
}

// hasData reports whether r's index has data blob id in a pack no marker
// condemns, the rule the Saver deduplicates by.
func hasData(r *repo.Repository, id crypto.ID) bool {
	idx := r.Index()
	if !idx.Has(id) {
		return false
	}
	for _, e := range idx.LookupAll(id) {
		if e.Type == pack.DataBlob && !idx.IsCondemned(e.Pack) {
			return true
		}
	}
	return false
}

// dataEntry returns an indexed copy of data blob id, preferring one in a
// pack that no marker condemns (a condemned pack may be gone soon).
func dataEntry(r *repo.Repository, id crypto.ID) (index.Entry, bool) {
	idx := r.Index()
	var found index.Entry
	ok := false
	for _, e := range idx.LookupAll(id) {
		if e.Type != pack.DataBlob {
			continue
		}
		if !idx.IsCondemned(e.Pack) {
			return e, true
		}
		found, ok = e, true
	}
	return found, ok
}

// printable quotes a path that has control characters or is not UTF-8.
func printable(p string) string {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Sprintf("%q", p)
		}
	}
	return p
}
