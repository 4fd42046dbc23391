package restorer

import (
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Batch limits: planning stops and the batch is downloaded when it holds
// this many file-blob references or this much file content, so memory does
// not grow with the snapshot. A reference costs about 60 bytes of plan.
const (
	maxBatchRefs  = 1 << 20
	maxBatchBytes = 64 << 30
)

// batch is the download plan for a set of files: every data blob they need,
// grouped by the pack that holds it, with the places each blob goes.
type batch struct {
	files []*fileState
	blobs map[crypto.ID]*blobPlan
	packs []*packPlan // in the order the walk first needed them
	// byID is the plan of each pack that still takes blobs: once a plan
	// was handed to the download (sent), a blob the walk needs later from
	// the same pack gets a new plan, fetched with a request of its own.
	byID map[crypto.ID]*packPlan
	// unsent are the plans not yet handed to the download. clock counts
	// the walk's moves from one pack to another (last is the pack it
	// needed last): a plan not needed for packIdle moves, nor for
	// horizon bytes of planned content, is sent.
	unsent []*packPlan
	clock  int
	last   *packPlan
	refs   int
	bytes  uint64
	found  []index.Entry // scratch for addFile
}

func newBatch() *batch {
	return &batch{blobs: make(map[crypto.ID]*blobPlan), byID: make(map[crypto.ID]*packPlan)}
}

func (b *batch) full() bool { return b.refs >= maxBatchRefs || b.bytes >= maxBatchBytes }

// packPlan is one pack to download and the blobs needed from it.
type packPlan struct {
	id    crypto.ID
	blobs []*blobPlan
	// sent is set (by the planner, and read only by it) once the plan is
	// handed to the download. Until the download starts the plan
	// (started, under mu) the planner may still add blobs (addBlob);
	// from then on blobs is read by the download workers and does not
	// change.
	sent    bool
	mu      sync.Mutex
	started bool
	// revisit is set on a plan for a pack that an earlier, sent plan of
	// the batch reads too: its blobs are read without reading through
	// gaps (which hold what the earlier plan read).
	revisit bool
	// lastUse is the batch's clock when the walk last needed the pack,
	// lastBytes the batch's planned bytes then.
	lastUse   int
	lastBytes uint64
}

// blobPlan is one needed blob and every place it goes.
type blobPlan struct {
	id             crypto.ID
	offset, length uint32 // of the sealed blob in its pack
	pack           *packPlan
	// recorded is the plaintext length the index records (format 1.1),
	// 0 when it records none. A decrypted blob of another length fails.
	recorded uint32
	// size is the plaintext size: the recorded one from the start, else
	// -1 until the blob is decrypted (a 1.0 index records only sealed
	// lengths, so where a file's later blobs start is known only once its
	// earlier ones were seen).
	size atomic.Int64

	mu sync.Mutex
	// targets are grouped by file, in content order; sealed once the
	// blob is delivered or failed (see addTarget).
	targets []target
	sealed  bool
}

// target is one occurrence of a blob in a file's content.
type target struct {
	file  *fileState
	index int32
}

// fileState is a file being restored (or verified) in a batch. Everything
// below mu is guarded by it.
type fileState struct {
	// path names the file in errors: its restore destination, or for
	// Verify its snapshot path.
	path string
	// live is, for Verify, the file on disk to compare with ("" for none).
	live string
	// temp is, for Restore, the name the file is written under until its
	// content is complete (in path's directory).
	temp string
	node *snapshot.Node
	// blobs is the file's content, resolved.
	blobs []*blobPlan

	mu sync.Mutex
	// offsets[i] is where blob i starts, valid for i <= reach: the sizes
	// of blobs[:reach] are known. nil for single-blob files.
	offsets []int64
	reach   int
	// pending holds decrypted blobs that arrived before their offset was
	// known; nil values are all-zero blobs, which need no write.
	pending  map[int32][]byte
	done     int  // blobs written (or skipped because zero)
	handle   int  // open file descriptor, -1 when closed
	created  bool // temp exists
	renamed  bool // temp was renamed to path
	failed   bool
	finished bool
	// metaDone says the metadata was applied through the handle before
	// it was closed (applyFD); metaErr is what that reported.
	metaDone bool
	metaErr  error
}

func newFileState(path, live string, node *snapshot.Node) *fileState {
	return &fileState{path: path, live: live, node: node, handle: -1}
}

// offset returns the start of blob i, if known.
func (f *fileState) offset(i int) (int64, bool) {
	if i > f.reach {
		return 0, false
	}
	if f.offsets == nil {
		return 0, true
	}
	return f.offsets[i], true
}

// advance extends the known prefix with blobs whose sizes are now known.
// It returns the previous reach. The caller holds f.mu.
func (f *fileState) advance() int {
	old := f.reach
	if f.offsets == nil {
		if f.reach == 0 && f.blobs[0].size.Load() >= 0 {
			f.reach = 1
		}
		return old
	}
	n := len(f.blobs)
	for f.reach < n {
		size := f.blobs[f.reach].size.Load()
		if size < 0 {
			break
		}
		end := f.offsets[f.reach] + size
		f.reach++
		if f.reach < n {
			f.offsets[f.reach] = end
		}
	}
	return old
}

// contentSize is the total size of the file's blobs, once all are known.
func (f *fileState) contentSize() (int64, bool) {
	if len(f.blobs) == 0 {
		return 0, true
	}
	if f.reach < len(f.blobs) {
		return 0, false
	}
	last := len(f.blobs) - 1
	start, _ := f.offset(last)
	return start + f.blobs[last].size.Load(), true
}

// addFile plans the content of f. When the index knows no location of some
// blob, nothing is planned and the error names the blobs.
func (b *batch) addFile(idx repo.IndexReader, f *fileState) error {
	content := f.node.Content
	b.found = b.found[:0]
	var missing []string
	var recordedSum int64
	allRecorded := true
	for _, id := range content {
		var plain uint32
		if bp, ok := b.blobs[id]; ok {
			plain = bp.recorded
		} else if e, ok := idx.Lookup(id); !ok || e.Type != pack.DataBlob {
			missing = append(missing, id.Short())
			continue
		} else {
			b.found = append(b.found, e)
			plain = e.PlainLen
		}
		recordedSum += int64(plain)
		allRecorded = allRecorded && plain > 0
	}
	if len(missing) > 0 {
		return fmt.Errorf("data blob %s is not in the index (missing from the repository; run cairn check)", strings.Join(missing, ", "))
	}
	if allRecorded && recordedSum != int64(f.node.Size) {
		return fmt.Errorf("not restored: the plaintext lengths the index records for its %d blobs add up to %d bytes, the snapshot says %d: "+
			"the index or the snapshot is damaged (run cairn check; cairn repair index rebuilds the index from the packs)",
			len(content), recordedSum, f.node.Size)
	}
	for _, e := range b.found {
		if _, ok := b.blobs[e.ID]; !ok { // else the file holds it more than once
			b.plan(e)
		}
	}
	f.blobs = make([]*blobPlan, len(content))
	if len(content) > 1 {
		f.offsets = make([]int64, len(content))
	}
	// f is complete before the download can see it: a worker delivering
	// a blob the file now joins waits for f.mu.
	f.mu.Lock()
	for i, id := range content {
		bp := b.blobs[id]
		t := target{file: f, index: int32(i)}
		if !bp.addTarget(t) {
			// Delivered already: the blob is read again.
			bp = b.plan(bp.entry())
			bp.addTarget(t)
		}
		f.blobs[i] = bp
		if bp.pack != b.last {
			b.clock++
			b.last = bp.pack
		}
		bp.pack.lastUse = b.clock
		bp.pack.lastBytes = b.bytes
	}
	f.mu.Unlock()
	b.files = append(b.files, f)
	b.refs += len(content)
	b.bytes += f.node.Size
	return nil
}

// plan adds a plan for the blob at e to the plan of its pack that is not
// sent yet, or to a new one (a revisit when an earlier plan of the pack
// was sent), and makes it the blob's plan for the files planned next.
//
// A plan handed to the download takes more blobs until its download
// starts: the walk is usually far ahead of the download, so blobs of a
// pack met after its plan was sent (a large file and small files stored
// side by side by parallel backup workers) still share its request.
func (b *batch) plan(e index.Entry) *blobPlan {
	bp := &blobPlan{id: e.ID, offset: e.Offset, length: e.Length, recorded: e.PlainLen}
	bp.size.Store(-1)
	if e.PlainLen > 0 {
		bp.size.Store(int64(e.PlainLen))
	}
	pp := b.byID[e.Pack]
	if pp == nil || !pp.addBlob(bp) {
		pp = &packPlan{id: e.Pack, revisit: pp != nil}
		b.byID[e.Pack] = pp
		b.packs = append(b.packs, pp)
		b.unsent = append(b.unsent, pp)
		pp.addBlob(bp)
	}
	b.blobs[e.ID] = bp
	return bp
}

// addBlob adds bp to the plan, unless its download has started.
func (pp *packPlan) addBlob(bp *blobPlan) bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.started {
		return false
	}
	bp.pack = pp
	pp.blobs = append(pp.blobs, bp)
	return true
}

// start ends addBlob; the download calls it before it reads the plan's
// blobs, which no longer change.
func (pp *packPlan) start() {
	pp.mu.Lock()
	pp.started = true
	pp.mu.Unlock()
}

// addTarget adds an occurrence of the blob, unless the blob was delivered
// (sealed): a plan handed to the download keeps taking the places a blob
// goes until the blob arrives, so a file that needs it again later in the
// walk (deduplication against older data) costs no second read.
func (bp *blobPlan) addTarget(t target) bool {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if bp.sealed {
		return false
	}
	bp.targets = append(bp.targets, t)
	return true
}

// seal ends addTarget and returns the blob's occurrences, which no longer
// change. Everything that delivers or fails a blob seals it first.
func (bp *blobPlan) seal() []target {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.sealed = true
	return bp.targets[:len(bp.targets):len(bp.targets)]
}

// entry is the index entry bp was planned from.
func (bp *blobPlan) entry() index.Entry {
	return index.Entry{ID: bp.id, Type: pack.DataBlob, Pack: bp.pack.id, Offset: bp.offset, Length: bp.length, PlainLen: bp.recorded}
}

// take marks the packs the walk seems done with as sent and returns them,
// in the order the walk first needed them: those it has not needed while
// it moved between packs more than idle times and planned more than
// horizon bytes of content. The walk meets blobs in about the order the
// backup stored them, so a pack it has left is rarely needed again, except
// through deduplication against older data (a second version of a module,
// a copied tree): the horizon keeps such packs until the walk is that far
// past them, so that they are still read once. When a pack is needed after
// all, the blobs needed from it later are fetched with a request of their
// own. take(0, 0) returns every unsent plan.
func (b *batch) take(idle int, horizon uint64) []*packPlan {
	var out []*packPlan
	keep := b.unsent[:0]
	for _, pp := range b.unsent {
		if idle > 0 && (b.clock-pp.lastUse <= idle || b.bytes-pp.lastBytes <= horizon) {
			keep = append(keep, pp)
			continue
		}
		pp.sent = true
		out = append(out, pp)
	}
	clear(b.unsent[len(keep):])
	b.unsent = keep
	return out
}

// files seals bp and yields each file that needs it once: targets are
// appended one file at a time (addFile), so a file repeats only in a run.
func (bp *blobPlan) files() iter.Seq[*fileState] {
	return func(yield func(*fileState) bool) {
		var last *fileState
		for _, t := range bp.seal() {
			if t.file == last {
				continue
			}
			last = t.file
			if !yield(t.file) {
				return
			}
		}
	}
}

// filePaths lists the files a blob belongs to, for error messages.
func filePaths(bp *blobPlan) string {
	const maxNames = 10
	var names []string
	n := 0
	for f := range bp.files() {
		if n < maxNames {
			names = append(names, f.path)
		}
		n++
	}
	if n > maxNames {
		names = append(names, fmt.Sprintf("and %d more", n-maxNames))
	}
	return strings.Join(names, ", ")
}
