package restorer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// restorer holds the state of one Restore call.
type restorer struct {
	repo     Repo
	opts     Options
	target   string
	asRoot   bool
	trees    *treeLoader
	errs     *errorLog
	progress *progress
	writer   *writer
	batch    *batch
	// horizon is packHorizon, lowered by tests.
	horizon uint64
	// download fetches the packs of batch the walk is done with while it
	// plans the rest; nil until the first is sent.
	download *download

	dirs      []dirMeta // in walk (pre-)order; applied in reverse
	links     []hardLink
	linkFirst map[inodeKey]linkSource
	temps     *tempNames
	chunker   *chunker.Chunker // for OverwriteIfChanged, made when needed

	files, special, dirCount, skipped, skippedBytes atomic.Uint64

	// reorder, set by tests, changes the download plan of a batch (its
	// order, or splits packs into several requests).
	reorder func([]*packPlan) []*packPlan
	// sent, set by tests, is called with each plan handed to the download.
	sent func(*packPlan)
}

// dirMeta is a restored directory whose metadata is applied at the end.
type dirMeta struct {
	path string
	node snapshot.Node // without Subtree
}

// hardLink is a file restored as a link to the first restored path of its
// inode, once that one has its content.
type hardLink struct {
	first linkSource
	path  string
}

// linkSource is the first name of an inode: a file being restored, or
// (file nil) an existing file kept because it equals the snapshot's.
type linkSource struct {
	path string
	file *fileState
}

type inodeKey struct{ device, inode uint64 }

func newRestorer(ctx context.Context, r Repo, opts Options) *restorer {
	rs := &restorer{
		repo:      r,
		opts:      opts,
		horizon:   packHorizon,
		target:    filepath.Clean(opts.Target),
		asRoot:    os.Geteuid() == 0,
		trees:     newTreeLoader(ctx, r, 4*opts.Connections),
		errs:      newErrorLog(opts.Warn),
		progress:  newProgress(opts.Progress),
		batch:     newBatch(),
		linkFirst: make(map[inodeKey]linkSource),
		temps:     newTempNames(),
	}
	rs.writer = newWriter(rs)
	return rs
}

// include is one subtree to restore: the entry at path, and the directories
// leading to it (restored too, with their metadata).
type include struct {
	path      string          // cleaned snapshot path; "/" is everything
	ancestors []snapshot.Node // directories from the root down to path's parent
	node      snapshot.Node
}

// resolveIncludes finds the entries named by paths, loading only the trees
// on the way. Paths inside another included path are dropped.
func resolveIncludes(ctx context.Context, r Repo, snap *snapshot.Snapshot, paths []string) ([]include, error) {
	root := include{path: "/", node: snapshot.Node{Type: snapshot.NodeDir, Subtree: snap.Tree}}
	if len(paths) == 0 {
		return []include{root}, nil
	}
	clean := make([]string, len(paths))
	for i, p := range paths {
		clean[i] = path.Clean("/" + p)
	}
	slices.Sort(clean)
	clean = slices.Compact(clean)
	var out []include
	for _, p := range clean {
		if p == "/" {
			return []include{root}, nil
		}
		if slices.ContainsFunc(out, func(o include) bool { return strings.HasPrefix(p, o.path+"/") }) {
			continue
		}
		inc := include{path: p}
		dir := root.node
		comps := strings.Split(p[1:], "/")
		for i, comp := range comps {
			if dir.Type != snapshot.NodeDir {
				return nil, fmt.Errorf("restore --include %s: %s is a %s, not a directory", p, path.Join(comps[:i]...), dir.Type)
			}
			var next *snapshot.Node
			err := snapshot.WalkDir(ctx, r, dir.Subtree, func(n *snapshot.Node) error {
				switch c := strings.Compare(string(n.Name), comp); {
				case c == 0:
					next = n
					return errFound
				case c > 0:
					return errFound // sorted: it is not there
				}
				return nil
			})
			if err != nil && !errors.Is(err, errFound) {
				return nil, fmt.Errorf("restore --include %s: %w", p, err)
			}
			if next == nil {
				return nil, fmt.Errorf("restore --include %s: %w", p, snapshot.ErrPathNotFound)
			}
			if i < len(comps)-1 {
				anc := *next
				inc.ancestors = append(inc.ancestors, anc)
			}
			dir = *next
		}
		inc.node = dir
		out = append(out, inc)
	}
	return out, nil
}

var errFound = errors.New("found")

// restoreTrees creates every entry of the included subtrees and plans the
// content of their files, downloading whenever a batch is full.
func (rs *restorer) restoreTrees(ctx context.Context, snap *snapshot.Snapshot, includes []include, targetFresh bool) error {
	fresh := map[string]bool{"": targetFresh} // ancestors already restored
	for _, inc := range includes {
		if inc.path == "/" {
			return rs.walk(ctx, inc.node.Subtree, nil, targetFresh)
		}
		dir := ""
		for i := range inc.ancestors {
			anc := &inc.ancestors[i]
			p := dir + "/" + string(anc.Name)
			if _, ok := fresh[p]; !ok {
				f, ok, err := rs.restoreNode(ctx, []byte(p), anc, fresh[dir])
				if err != nil {
					return err
				}
				if !ok {
					return nil // reported; nothing below it can be restored
				}
				fresh[p] = f
			}
			dir = p
		}
		f, ok, err := rs.restoreNode(ctx, []byte(inc.path), &inc.node, fresh[dir])
		if err != nil {
			return err
		}
		if ok && inc.node.Type == snapshot.NodeDir {
			if err := rs.walk(ctx, inc.node.Subtree, []byte(inc.path), f); err != nil {
				return err
			}
		}
	}
	return nil
}

// walk restores the tree below the directory at snapshot path prefix.
// fresh says the directory was just created, so none of its entries can
// exist yet; a stack of such flags follows the depth-first walk.
func (rs *restorer) walk(ctx context.Context, subtree []crypto.ID, prefix []byte, fresh bool) error {
	type frame struct {
		path []byte
		dir  *lazyDir
	}
	stack := []frame{{path: prefix, dir: madeDir(fresh)}}
	mk := func(p []byte, n *snapshot.Node, parentFresh bool) (bool, bool, error) {
		return rs.restoreNode(ctx, p, n, parentFresh)
	}
	return snapshot.Walk(ctx, rs.trees, subtree, func(rel []byte, n *snapshot.Node) error {
		p := rel
		if len(prefix) > 0 {
			p = append(slices.Clip(prefix), rel...)
		}
		parent := p[:bytes.LastIndexByte(p, '/')]
		for len(stack) > 1 && !bytes.Equal(stack[len(stack)-1].path, parent) {
			stack = stack[:len(stack)-1]
		}
		top := stack[len(stack)-1].dir
		isDir := n.Type == snapshot.NodeDir
		sel, descend := rs.selected(p, isDir)
		if !sel {
			if isDir && descend {
				stack = append(stack, frame{path: p, dir: top.passOver(p, n)})
				return nil
			}
			return skipIf(isDir)
		}
		parentFresh, ok, err := top.make(mk)
		if err != nil || !ok {
			return cmp.Or(err, skipIf(isDir))
		}
		f, ok, err := rs.restoreNode(ctx, p, n, parentFresh)
		if err != nil {
			return err
		}
		if isDir {
			if !ok || !descend {
				return snapshot.SkipDir
			}
			stack = append(stack, frame{path: p, dir: madeDir(f)})
		}
		return nil
	})
}

// skipIf is what a walk callback returns to leave out a directory's
// contents (SkipDir), or nothing else (nil).
func skipIf(isDir bool) error {
	if isDir {
		return snapshot.SkipDir
	}
	return nil
}

// restoreNode creates one entry. For directories it reports whether the
// directory is new (fresh) and whether it exists at all (ok). Failures on
// the entry itself are counted and reported (ok is false); the error return
// is for conditions that stop the restore.
func (rs *restorer) restoreNode(ctx context.Context, snapPath []byte, n *snapshot.Node, parentFresh bool) (fresh, ok bool, err error) {
	dst := rs.destination(snapPath)
	if n.Type == snapshot.NodeDir {
		return rs.makeDir(dst, n, parentFresh)
	}
	if (n.Type == snapshot.NodeCharDev || n.Type == snapshot.NodeBlockDev) && !rs.asRoot {
		if rs.opts.Warn != nil {
			rs.opts.Warn(dst, fmt.Errorf("%s not restored: only root can create device nodes", n.Type))
		}
		return false, false, nil
	}
	if !parentFresh {
		if ok, err := rs.clear(ctx, dst, n); !ok || err != nil {
			return false, false, err
		}
	}
	switch n.Type {
	case snapshot.NodeFile:
		return false, true, rs.planFile(ctx, dst, n)
	case snapshot.NodeSymlink:
		err = symlink(string(n.LinkTarget), dst)
	case snapshot.NodeFifo, snapshot.NodeCharDev, snapshot.NodeBlockDev:
		err = fsmeta.Mknod(dst, n)
	default:
		err = fmt.Errorf("unknown entry type %s", n.Type)
	}
	if err == nil {
		err = fsmeta.Apply(dst, n, rs.asRoot)
	}
	if err != nil {
		rs.errs.add(dst, err)
		return false, false, nil
	}
	rs.files.Add(1)
	rs.special.Add(1)
	rs.progress.files.Add(1)
	rs.progress.totalFiles.Add(1)
	return false, true, nil
}

// makeDir creates a directory owner-only while its contents are restored,
// or reuses an existing one (removing what an interrupted restore left in
// it); its metadata is applied at the end.
func (rs *restorer) makeDir(dst string, n *snapshot.Node, parentFresh bool) (fresh, ok bool, err error) {
	err = mkdir(dst, 0o700)
	if errors.Is(err, fs.ErrExist) && !parentFresh {
		fi, lerr := lstat(dst)
		switch {
		case lerr != nil:
			err = lerr
		case fi.IsDir():
			err = nil
			if fi.Mode().Perm()&0o700 != 0o700 {
				err = chmod(dst, fi.Mode().Perm()|0o700)
			}
			rs.removeLeftovers(dst)
		case rs.opts.Overwrite == OverwriteNever:
			err = fmt.Errorf("not restored: a %s is in the way and --overwrite never keeps it", fileKind(fi))
		default:
			if err = remove(dst); err == nil {
				err = mkdir(dst, 0o700)
				fresh = err == nil
			}
		}
	} else {
		fresh = err == nil
	}
	if err != nil {
		rs.errs.add(dst, err)
		return false, false, nil
	}
	meta := *n
	meta.Subtree = nil
	rs.dirs = append(rs.dirs, dirMeta{path: dst, node: meta})
	rs.dirCount.Add(1)
	return fresh, true, nil
}

func fileKind(fi fs.FileInfo) string {
	switch {
	case fi.Mode().IsRegular():
		return "file"
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "non-directory"
}

// planFile restores an empty file at once, records a later hard link, or
// adds the file's content to the batch, downloading the batch when full.
func (rs *restorer) planFile(ctx context.Context, dst string, n *snapshot.Node) error {
	node := *n
	f := newFileState(dst, "", &node)
	f.temp = rs.temps.next(dst)
	if n.Links > 1 {
		key := inodeKey{n.Device, n.Inode}
		if first, ok := rs.linkFirst[key]; ok {
			rs.links = append(rs.links, hardLink{first: first, path: dst})
			rs.progress.totalFiles.Add(1)
			return nil
		}
		rs.linkFirst[key] = linkSource{path: dst, file: f}
	}
	rs.progress.totalFiles.Add(1)
	rs.progress.totalBytes.Add(n.Size)
	if len(n.Content) == 0 {
		rs.restoreEmpty(f)
		return nil
	}
	if err := rs.batch.addFile(rs.repo.Index(), f); err != nil {
		rs.errs.add(dst, err)
		f.failed = true
		return nil
	}
	if rs.batch.full() {
		return rs.runBatch(ctx)
	}
	if rs.reorder != nil {
		return nil // the test reorders the whole batch
	}
	for _, pp := range rs.batch.take(packIdle, rs.horizon) {
		if err := rs.send(ctx, pp); err != nil {
			return err
		}
	}
	return nil
}

// packIdle is how many moves between packs the walk makes before a pack it
// no longer needs is downloaded (batch.take): enough that a walk through
// files that parallel backup workers stored in several packs at once keeps
// them all, so that such packs are still read once. packHorizon is how
// much content the walk plans past a pack's last use before it is
// downloaded: blobs of the pack that the walk meets later (a module cache
// holds several versions of the same modules) join its plan until then,
// and after that need a request of their own. Blobs already planned are
// different: a later file joins their plan until they are delivered, and
// since the walk never waits for the download it is usually far ahead. A
// restore below the horizon is planned whole before its packs are read, as
// restic does; a larger one streams, a horizon behind. Measured on a
// module cache (700 MB, 18 packs) on MinIO: a horizon of 0 made 104
// requests for 261 MB, 64 MiB 40 for 255 MB, 256 MiB 35 for 254 MB.
const (
	packIdle    = 16
	packHorizon = 256 << 20
)

// send hands a planned pack to the batch's download, starting it if needed.
func (rs *restorer) send(ctx context.Context, pp *packPlan) error {
	if rs.download == nil {
		rs.download = startDownload(ctx, rs.repo, rs.opts.Connections, rs.writer)
	}
	err := rs.download.send(pp)
	if err == nil && rs.sent != nil {
		rs.sent(pp)
	}
	return err
}

// abortBatch stops the download of the current batch after the walk failed
// and removes what it had begun to write.
func (rs *restorer) abortBatch() {
	if rs.download != nil {
		rs.download.abort()
		rs.download = nil
	}
	rs.writer.finishBatch(rs.batch.files, false)
	rs.writer.dropUninstalled(rs.batch.files)
}

// restoreEmpty creates a file without content blobs: empty, or (if the
// snapshot says so) nothing but a hole.
func (rs *restorer) restoreEmpty(f *fileState) {
	f.mu.Lock()
	err := rs.writer.complete(f)
	f.mu.Unlock()
	if err != nil {
		rs.errs.add(f.path, err)
		return
	}
	rs.installed(f)
}

// runBatch downloads the planned batch into its files and starts a new one.
func (rs *restorer) runBatch(ctx context.Context) error {
	b := rs.batch
	if len(b.files) == 0 {
		return nil
	}
	rs.batch = newBatch()
	rest := b.take(0, 0)
	if rs.reorder != nil {
		rest = rs.reorder(rest)
	}
	err := rs.finishDownload(ctx, rest)
	if err == nil {
		if again := rs.writer.takeDeferred(); len(again) > 0 {
			err = fetchPacks(ctx, rs.repo, again, rs.opts.Connections, rs.writer)
		}
	}
	rs.writer.finishBatch(b.files, err == nil)
	if err != nil {
		rs.writer.dropUninstalled(b.files) // finished, awaiting --verify
		return err
	}
	if rs.opts.Verify {
		return rs.verifyRestored(ctx, b.files)
	}
	return nil
}

// finishDownload sends the rest of a batch's packs and waits until all are
// downloaded.
func (rs *restorer) finishDownload(ctx context.Context, rest []*packPlan) error {
	var err error
	for _, pp := range rest {
		if err = rs.send(ctx, pp); err != nil {
			break
		}
	}
	if rs.download != nil {
		if werr := rs.download.wait(); err == nil {
			err = werr
		}
		rs.download = nil
	}
	return err
}
