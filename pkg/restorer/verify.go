package restorer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Against, when set, is a directory (or file) to compare the snapshot
	// with: it corresponds to the snapshot's only path when it has exactly
	// one, else to the snapshot root "/" — unless Base is set.
	Against string
	// Base, when set, is the snapshot path that Against corresponds to:
	// only that subtree is read and compared (a snapshot of ~/Documents
	// and ~/Pictures verified against ~/Documents alone).
	Base string
	// Connections is the number of packs downloaded in parallel; zero means
	// the repository's Connections().
	Connections int
	Progress    func(Progress)
}

// Difference is one way the live tree differs from the snapshot. Path is a
// snapshot path; What says how, snapshot value first, as in
// "mode 0644 != 0600" or "missing on disk".
type Difference struct {
	Path, What string
}

// VerifyResult is what Verify found. Files and Bytes count the file content
// read back; Damaged lists the snapshot paths of files with a blob that
// could not be read from any copy.
type VerifyResult struct {
	Files, Bytes uint64
	Differences  []Difference
	Damaged      []string
}

// Verify is the restore drill: it reads the whole snapshot back as Restore
// would (every data blob downloaded once, pack by pack, decrypted and checked
// against its ID) without writing anything, and with opts.Against compares
// every entry's metadata and every file's content with the live tree.
// Differences are results, not errors; the error is non-nil when data was
// damaged (it summarises the damage) or the drill could not run.
func Verify(ctx context.Context, r Repo, snap *snapshot.Snapshot, opts VerifyOptions) (*VerifyResult, error) {
	if opts.Connections <= 0 {
		opts.Connections = max(r.Connections(), 1)
	}
	base := "/"
	switch {
	case opts.Base != "":
		base = path.Clean("/" + opts.Base)
	case opts.Against != "" && len(snap.Paths) == 1:
		base = path.Clean("/" + snap.Paths[0])
	}
	root := &snapshot.Node{Type: snapshot.NodeDir, Subtree: snap.Tree}
	if base != "/" {
		var err error
		if root, err = snapshot.FindPath(ctx, r, snap.Tree, base); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	v := &verifier{
		repo:     r,
		opts:     opts,
		trees:    newTreeLoader(ctx, r, opts.Connections),
		progress: newProgress(opts.Progress),
		errs:     newErrorLog(nil),
		batch:    newBatch(),
		asRoot:   os.Geteuid() == 0,
		result:   &VerifyResult{},
	}
	defer v.trees.close()
	v.progress.start()
	defer v.progress.stop()
	if err := v.run(ctx, base, root); err != nil {
		return v.result, err
	}
	slices.SortFunc(v.result.Differences, func(a, b Difference) int {
		return bytes.Compare([]byte(a.Path), []byte(b.Path))
	})
	slices.Sort(v.result.Damaged)
	return v.result, v.errs.summary("verify")
}

// verifier holds the state of one Verify call.
type verifier struct {
	repo     Repo
	opts     VerifyOptions
	trees    *treeLoader
	progress *progress
	errs     *errorLog
	batch    *batch
	asRoot   bool

	mu     sync.Mutex
	result *VerifyResult
}

// liveDir is a directory of the snapshot whose entries are compared with
// the live directory once the walk has seen them all.
type liveDir struct {
	snapPath []byte
	live     string
	names    []string // snapshot entries, sorted (the walk's order)
}

func (v *verifier) run(ctx context.Context, base string, root *snapshot.Node) error {
	against := v.opts.Against
	if root.Type != snapshot.NodeDir {
		if err := v.visit(ctx, []byte(base), against, root); err != nil {
			return err
		}
		return v.runBatch(ctx)
	}
	prefix := []byte(base)
	if base == "/" {
		prefix = nil
	} else if against != "" && !v.compareMeta(base, against, root) {
		return nil // missing on disk or not a directory: reported
	}
	var stack []*liveDir
	if against != "" {
		stack = append(stack, &liveDir{snapPath: prefix, live: against})
	}
	err := snapshot.Walk(ctx, v.trees, root.Subtree, func(rel []byte, n *snapshot.Node) error {
		p := append(slices.Clip(prefix), rel...)
		live := ""
		if against != "" {
			live = against + string(rel)
			parent := p[:bytes.LastIndexByte(p, '/')]
			for len(stack) > 1 && !bytes.Equal(stack[len(stack)-1].snapPath, parent) {
				v.compareNames(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
			}
			top := stack[len(stack)-1]
			top.names = append(top.names, string(n.Name))
		}
		if n.Type == snapshot.NodeDir {
			if live != "" {
				if v.compareMeta(string(p), live, n) {
					stack = append(stack, &liveDir{snapPath: p, live: live})
				} else {
					live = ""
				}
			}
			return nil
		}
		return v.visit(ctx, p, live, n)
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(stack) {
		v.compareNames(d)
	}
	return v.runBatch(ctx)
}

// visit compares a non-directory entry's metadata and plans a file's
// content.
func (v *verifier) visit(ctx context.Context, snapPath []byte, live string, n *snapshot.Node) error {
	if live != "" && !v.compareMeta(string(snapPath), live, n) {
		live = "" // no content comparison: already different
	}
	if n.Type != snapshot.NodeFile {
		return nil
	}
	v.progress.totalFiles.Add(1)
	v.progress.totalBytes.Add(n.Size)
	node := *n
	f := newFileState(string(snapPath), live, &node)
	if len(n.Content) == 0 {
		v.fileDone(f)
		return nil
	}
	if err := v.batch.addFile(v.repo.Index(), f); err != nil {
		v.damaged(f.path, err)
		return nil
	}
	if v.batch.full() {
		return v.runBatch(ctx)
	}
	return nil
}

func (v *verifier) runBatch(ctx context.Context) error {
	b := v.batch
	if len(b.files) == 0 {
		return nil
	}
	v.batch = newBatch()
	if err := fetchPacks(ctx, v.repo, b.packs, v.opts.Connections, v); err != nil {
		return err
	}
	return checkFiles(ctx, v.repo.Keys(), b.files, func(ctx context.Context, c *contentChecker, f *fileState) {
		if f.failed {
			return
		}
		if f.live != "" {
			if err := c.check(ctx, f.live, f); errors.Is(err, errContentDiffers) {
				v.differs(f.path, "content differs")
			} else if err != nil && ctx.Err() == nil {
				v.differs(f.path, "cannot read: "+err.Error())
			}
		}
		v.fileDone(f)
	})
}

func (v *verifier) fileDone(f *fileState) {
	v.mu.Lock()
	v.result.Files++
	v.result.Bytes += f.node.Size
	v.mu.Unlock()
	v.progress.files.Add(1)
}

// blob is the verifier's blobSink: the blob was read and checked; nothing
// more to do with it until the live files are compared.
func (v *verifier) blob(bp *blobPlan, data []byte) {
	v.progress.bytes.Add(uint64(len(data)) * uint64(len(bp.seal())))
}

func (v *verifier) fail(bp *blobPlan, err error) {
	damage := repo.IsDamage(err)
	err = blobFailure(err, bp)
	for f := range bp.files() {
		f.mu.Lock()
		first := !f.failed
		f.failed = true
		f.mu.Unlock()
		switch {
		case first && damage:
			v.damaged(f.path, err)
		case first:
			// Not proven damaged: the storage did not deliver. The
			// drill fails, but the file is not called damaged.
			v.errs.add(f.path, err)
		}
	}
}

// blobFailure says what a blob that could not be read means for the files
// that need it: damage only when bytes were received and failed their
// checks; otherwise the storage did not deliver, and running the command
// again may well succeed.
func blobFailure(err error, bp *blobPlan) error {
	if repo.IsDamage(err) {
		return fmt.Errorf("%w; damaged files: %s", err, filePaths(bp))
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w; the data is missing from the storage (run cairn check): files affected: %s", err, filePaths(bp))
	}
	return fmt.Errorf("%w; the storage did not deliver this data (nothing is known to be damaged): run the same command again when it is reachable; files affected: %s", err, filePaths(bp))
}

func (v *verifier) damaged(snapPath string, err error) {
	v.mu.Lock()
	v.result.Damaged = append(v.result.Damaged, snapPath)
	v.mu.Unlock()
	v.errs.add(snapPath, err)
}

func (v *verifier) differs(snapPath, what string) {
	v.mu.Lock()
	v.result.Differences = append(v.result.Differences, Difference{Path: snapPath, What: what})
	v.mu.Unlock()
}

// compareNames reports live entries of d that the snapshot lacks. Sockets
// are never stored, so they are not differences.
func (v *verifier) compareNames(d *liveDir) {
	dir, err := os.Open(d.live)
	if err != nil {
		v.differs(rootPath(d.snapPath), "cannot list: "+err.Error())
		return
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		v.differs(rootPath(d.snapPath), "cannot list: "+err.Error())
		return
	}
	slices.Sort(names)
	for _, name := range names {
		if _, found := slices.BinarySearch(d.names, name); found {
			continue
		}
		if fi, err := os.Lstat(d.live + "/" + name); err == nil && fi.Mode().Type() == os.ModeSocket {
			continue
		}
		v.differs(string(d.snapPath)+"/"+name, "missing in snapshot")
	}
}

// rootPath is the snapshot path of the tree root in messages.
func rootPath(p []byte) string {
	if len(p) == 0 {
		return "/"
	}
	return string(p)
}
