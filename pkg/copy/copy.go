package copy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Options configure Copy.
type Options struct {
	// Refs select source snapshots by ID, unique ID prefix or "latest"
	// (narrowed by Filter). None means every source snapshot Filter
	// matches.
	Refs   []string
	Filter snapshot.Filter
	// Connections bounds concurrent pack reads from the source; default
	// the source's OpenOptions.Connections.
	Connections int
	// DryRun lists what would be copied, and copies nothing.
	DryRun bool
	// Log, if set, receives one line per snapshot copied, skipped or
	// failed.
	Log func(msg string)
	// Warn, if set, is told about problems that do not fail the copy (a
	// done lease that could not be written after the snapshot was).
	Warn func(err error)
	// Progress, if set, is called as Copy advances (see Progress), never
	// concurrently.
	Progress func(Progress)
}

// Progress is how far Copy is.
type Progress struct {
	// Snapshots counts the selected snapshots dealt with (copied,
	// skipped or failed) of TotalSnapshots.
	Snapshots, TotalSnapshots int
	// Current is the source snapshot being copied; zero between two.
	Current crypto.ID
	// Packs and TotalPacks count, in ModeBlobs, the source packs read of
	// those holding data of Current that the destination lacks; both are
	// 0 until its trees are walked, and in ModeRechunk.
	Packs, TotalPacks int
	// Bytes is the plaintext read from the source so far in this run.
	Bytes int64
}

// Mode is how blobs move between two repositories.
type Mode string

const (
	// ModeBlobs: the repositories chunk and name blobs alike, so blobs
	// move as they are.
	ModeBlobs Mode = "blobs"
	// ModeRechunk: files are re-chunked with the destination's chunker.
	ModeRechunk Mode = "rechunk"
)

// Counts are what copying moved.
type Counts struct {
	// TreesStored and DataStored count blobs new to the destination;
	// DataDeduped data blobs the destination already had (ModeBlobs:
	// never downloaded).
	TreesStored int   `json:"trees_stored"`
	DataStored  int   `json:"data_stored"`
	DataDeduped int   `json:"data_deduped"`
	BytesStored int64 `json:"bytes_stored"` // plaintext bytes of new blobs
	// BytesRead is the plaintext read from the source; FilesRechunked
	// the files split anew (ModeRechunk).
	BytesRead      int64 `json:"bytes_read"`
	FilesRechunked int   `json:"files_rechunked"`
}

func (c *Counts) add(o Counts) {
	c.TreesStored += o.TreesStored
	c.DataStored += o.DataStored
	c.DataDeduped += o.DataDeduped
	c.BytesStored += o.BytesStored
	c.BytesRead += o.BytesRead
	c.FilesRechunked += o.FilesRechunked
}

// Copied is one snapshot copied: Source in the source, Dest the new one.
type Copied struct {
	Source crypto.ID
	Dest   crypto.ID
	Counts
}

// Skipped is a source snapshot the destination already holds as Dest.
type Skipped struct {
	Source crypto.ID
	Dest   crypto.ID
}

// Failed is a source snapshot that could not be copied; no snapshot was
// written for it.
type Failed struct {
	Source crypto.ID
	Err    error
}

// Result is what Copy did.
type Result struct {
	Mode    Mode
	Copied  []Copied
	Skipped []Skipped
	Failed  []Failed
	// Pending lists, in a dry run, the snapshots that would be copied.
	Pending []crypto.ID
	Total   Counts
}

// SameChunking reports whether dst chunks files and names blobs exactly as
// src does: equal chunker parameters, chunker key and content-ID key (as
// `cairn init --copy-chunker-params-from` makes them). The content-ID key
// is compared through the ID of a fixed probe, so it never leaves crypto.
func SameChunking(src, dst *repo.Repository) bool {
	if src.Config().Chunker != dst.Config().Chunker {
		return false
	}
	if !bytes.Equal(src.Keys().ChunkerKey(), dst.Keys().ChunkerKey()) {
		return false
	}
	probe := []byte("cairn copy: same content-ID key?")
	return src.Keys().BlobID(probe) == dst.Keys().BlobID(probe)
}

// Copy copies the snapshots opts selects from src to dst, skipping those
// whose origin dst already holds. Both repositories must be open; Copy
// loads their indexes. A snapshot that fails is reported in Result.Failed
// and leaves nothing behind; the others are still copied. The returned
// error is set when a snapshot failed or the work could not start.
func Copy(ctx context.Context, src, dst *repo.Repository, opts Options) (*Result, error) {
	if src.Config().ID == dst.Config().ID {
		return nil, errors.New("copy: the source and the destination are the same repository")
	}
	if opts.Connections <= 0 {
		opts.Connections = src.Connections()
	}
	selected, err := selectSnapshots(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	held, err := heldOrigins(ctx, dst)
	if err != nil {
		return nil, err
	}
	if err := src.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("copy: load the source index: %w", err)
	}
	res := &Result{Mode: ModeRechunk}
	if SameChunking(src, dst) {
		res.Mode = ModeBlobs
	}
	c := &copier{src: src, dst: dst, opts: opts, mode: res.Mode, dirs: make(map[string][]crypto.ID),
		trees: make(map[crypto.ID]struct{})}
	c.report(func(p *Progress) { p.TotalSnapshots = len(selected) })
	for _, e := range selected {
		c.report(func(p *Progress) { p.Current, p.Packs, p.TotalPacks = e.ID, 0, 0 })
		if err := c.each(ctx, res, held, e); err != nil {
			return res, err
		}
		c.report(func(p *Progress) { p.Snapshots, p.Current, p.Packs, p.TotalPacks = p.Snapshots+1, crypto.ID{}, 0, 0 })
	}
	if len(res.Failed) > 0 {
		errs := make([]error, len(res.Failed))
		for i, f := range res.Failed {
			errs[i] = fmt.Errorf("snapshot %s: %w", f.Source.Short(), f.Err)
		}
		return res, fmt.Errorf("copy: %d of %d snapshot(s) not copied (no snapshot was written for them): %w",
			len(res.Failed), len(selected), errors.Join(errs...))
	}
	return res, nil
}

// each deals with one selected snapshot e: skips it when the destination
// holds it, lists it in a dry run, or copies it, recording the outcome in
// res, and a copy in held. Only an interruption is returned as an error;
// a snapshot that fails goes to res.Failed.
func (c *copier) each(ctx context.Context, res *Result, held map[crypto.ID][]snapshot.Entry, e snapshot.Entry) error {
	origin := e.Snapshot.Origin(e.ID)
	if claims := held[origin]; len(claims) > 0 {
		// With shared chunking a copy has the source's very root, so a
		// claim that does not is not believed: anyone holding the
		// destination's key could plant one to keep a snapshot out.
		i := slices.IndexFunc(claims, func(d snapshot.Entry) bool {
			return res.Mode != ModeBlobs || slices.Equal(d.Snapshot.Tree, e.Snapshot.Tree)
		})
		if i >= 0 {
			res.Skipped = append(res.Skipped, Skipped{Source: e.ID, Dest: claims[i].ID})
			c.log("snapshot %s: already in the destination as %s, skipped", e.ID.Short(), claims[i].ID.Short())
			return nil
		}
		c.log("snapshot %s: destination snapshot %s claims to be its copy but holds other data; copying it again", e.ID.Short(), claims[0].ID.Short())
	}
	if c.opts.DryRun {
		res.Pending = append(res.Pending, e.ID)
		c.log("snapshot %s: would be copied", e.ID.Short())
		return nil
	}
	id, counts, err := c.one(ctx, e)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.Failed = append(res.Failed, Failed{Source: e.ID, Err: err})
		c.log("snapshot %s: not copied: %v", e.ID.Short(), err)
		return nil
	}
	held[origin] = append(held[origin], snapshot.Entry{ID: id, Snapshot: &snapshot.Snapshot{Tree: e.Snapshot.Tree}})
	res.Copied = append(res.Copied, Copied{Source: e.ID, Dest: id, Counts: counts})
	res.Total.add(counts)
	c.log("snapshot %s: copied as %s", e.ID.Short(), id.Short())
	return nil
}

// selectSnapshots resolves opts.Refs, or lists what opts.Filter matches,
// oldest first, each once.
func selectSnapshots(ctx context.Context, src *repo.Repository, opts Options) ([]snapshot.Entry, error) {
	if len(opts.Refs) == 0 {
		all, err := snapshot.List(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("copy: source: %w", err)
		}
		return slices.DeleteFunc(all, func(e snapshot.Entry) bool { return !opts.Filter.Match(e.Snapshot) }), nil
	}
	var out []snapshot.Entry
	for _, ref := range opts.Refs {
		e, err := snapshot.Find(ctx, src, ref, opts.Filter)
		if err != nil {
			return nil, fmt.Errorf("copy: source: %w", err)
		}
		if !slices.ContainsFunc(out, func(o snapshot.Entry) bool { return o.ID == e.ID }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// heldOrigins maps each origin to the destination snapshots that record it.
func heldOrigins(ctx context.Context, dst *repo.Repository) (map[crypto.ID][]snapshot.Entry, error) {
	all, err := snapshot.List(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("copy: destination: %w", err)
	}
	held := make(map[crypto.ID][]snapshot.Entry, len(all))
	for _, e := range all {
		o := e.Snapshot.Origin(e.ID)
		held[o] = append(held[o], e)
	}
	return held, nil
}

// copier is one Copy run.
type copier struct {
	src, dst *repo.Repository
	opts     Options
	mode     Mode
	// dirs maps a source directory's subtree list (ModeRechunk) to its
	// re-encoded subtree in the destination, for the snapshots committed
	// so far in this run.
	dirs map[string][]crypto.ID
	// trees holds the tree blobs (ModeBlobs) of the snapshots committed
	// so far in this run, each stored with everything under it;
	// pendingTrees those of the snapshot being copied.
	trees        map[crypto.ID]struct{}
	pendingTrees []crypto.ID

	// progress is what report last told opts.Progress; progressMu
	// guards it and keeps the calls apart.
	progressMu sync.Mutex
	progress   Progress
}

// report changes the progress with change and tells opts.Progress.
func (c *copier) report(change func(*Progress)) {
	if c.opts.Progress == nil {
		return
	}
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	change(&c.progress)
	c.opts.Progress(c.progress)
}

// readBytes reports n more plaintext bytes read from the source.
func (c *copier) readBytes(n int64) {
	c.report(func(p *Progress) { p.Bytes += n })
}

func (c *copier) log(format string, args ...any) {
	if c.opts.Log != nil {
		c.opts.Log(fmt.Sprintf(format, args...))
	}
}

// one copies snapshot e in one write session of the destination.
func (c *copier) one(ctx context.Context, e snapshot.Entry) (crypto.ID, Counts, error) {
	sess, err := c.dst.BeginWrite(ctx, "copy", repo.WriteOptions{Warn: c.opts.Warn})
	if err != nil {
		return crypto.ID{}, Counts{}, err
	}
	sctx, saver := sess.Context(), sess.Saver()
	c.pendingTrees = c.pendingTrees[:0]
	var (
		tree    []crypto.ID
		counts  Counts
		newDirs map[string][]crypto.ID
	)
	if c.mode == ModeBlobs {
		tree, counts, err = c.moveBlobs(sctx, saver, e.Snapshot.Tree)
	} else {
		rc := &rechunker{copier: c, saver: saver, done: make(map[string][]crypto.ID)}
		tree, err = rc.run(sctx, e.Snapshot.Tree)
		counts, newDirs = rc.counts, rc.done
	}
	if err == nil {
		err = sess.Err() // a lost lease cancels sctx: say so, not "context canceled"
	}
	if err != nil {
		if lerr := sess.Err(); lerr != nil {
			err = lerr
		}
		_ = sess.Abort(ctx)
		return crypto.ID{}, Counts{}, err
	}
	sn := *e.Snapshot
	sn.Tree = tree
	sn.Parent = crypto.ID{} // names a snapshot of the source
	sn.Original = e.Snapshot.Origin(e.ID)
	if sn.OriginalRepo == "" {
		sn.OriginalRepo = c.src.Config().ID
	}
	id, err := sess.Commit(ctx, tree, func(ctx context.Context) (crypto.ID, error) {
		return snapshot.Save(ctx, c.dst, &sn)
	})
	if err != nil {
		return crypto.ID{}, Counts{}, err
	}
	stats := saver.Stats()
	counts.BytesStored = stats.BytesNew
	for k, v := range newDirs {
		c.dirs[k] = v
	}
	for _, id := range c.pendingTrees {
		c.trees[id] = struct{}{}
	}
	return id, counts, nil
}
