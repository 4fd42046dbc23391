package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Repo is what Check needs of a repository; *repo.Repository satisfies it.
// Every object is read through these methods, which check it against its
// name and authenticate it: Check never trusts a local copy instead.
type Repo interface {
	ListObjects(ctx context.Context, kind string) ([]crypto.ID, error)
	LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error)
	LoadKeyFile(ctx context.Context, id crypto.ID) (*crypto.KeyFile, error)
	ListPacks(ctx context.Context, fn func(id crypto.ID, size int64) error) error
	ReadPackHeader(ctx context.Context, id crypto.ID) ([]pack.Entry, int64, error)
	LoadPackBlobs(ctx context.Context, packID crypto.ID, entries []index.Entry, opts repo.PackReadOptions, fn repo.BlobFunc) error
}

var _ Repo = (*repo.Repository)(nil)

// IndexCache is the local cache of decrypted index bodies (*index.Cache).
// Check uses a cached view for lookups only after it has confirmed that the
// view holds exactly the entries of the stored object, and rebuilds (or
// drops) entries that disagree.
type IndexCache interface {
	Load(name crypto.ID) (*index.View, error)
	Store(name crypto.ID, body []byte) error
	Release(name crypto.ID) error
	Retain(names []crypto.ID) error
}

var _ IndexCache = (*index.Cache)(nil)

// ErrIncomplete means Check could not read every object: the storage was
// unreachable or failing (after retries) for some of them. What it did read
// is reported; nothing unread is called damaged.
var ErrIncomplete = errors.New("storage unreachable: the check could not read every object")

// Stage names a phase of Check for progress reports.
type Stage string

// The stages, in the order Check runs them.
const (
	StageIndex     Stage = "index"
	StagePacks     Stage = "packs"
	StageSnapshots Stage = "snapshots"
	StageReadData  Stage = "read data"
	StageDamage    Stage = "damage report"
)

// Options configure Check.
type Options struct {
	// ReadData downloads packs and verifies their hash and every blob in
	// them. A non-empty Subset implies it.
	ReadData bool
	// Subset limits the packs ReadData reads: "n/m" (1 <= n <= m <= 256)
	// or a percentage such as "10%" or "2.5%"; "" reads every pack. See
	// ParseSubset.
	Subset string
	// Connections bounds concurrent storage requests; default 8.
	Connections int
	// Cache, if set, is the local index cache of this repository, which
	// Check reconciles with the stored index objects. Check does not
	// close it.
	Cache IndexCache
	// Progress, if set, is called as work is done, never concurrently.
	Progress func(stage Stage, done, total int)
	// ReadProgress, if set, is called as ReadData finishes each pack
	// (read, damaged or unreadable), never concurrently, with the packs
	// and bytes done so far of those selected: the bytes a rate and an
	// estimate of the time left need.
	ReadProgress func(ReadProgress)
}

// ReadProgress is how far ReadData is: packs and their stored bytes.
type ReadProgress struct {
	Packs, TotalPacks int
	Bytes, TotalBytes int64
}

// Affected is a file or directory of a snapshot that can no longer be
// restored completely. Path is absolute within the snapshot ("/home/a/x");
// a directory whose own tree blob is lost is listed itself.
type Affected struct {
	Snapshot crypto.ID
	Time     time.Time
	Path     string
}

// Report is the outcome of Check.
type Report struct {
	// Errors describe damage; the repository is healthy when there are
	// none.
	Errors []string
	// Info lists findings that need no action (orphan packs, an
	// interrupted prune that the next prune finishes).
	Info []string
	// Unreadable names the objects the storage did not deliver (missing
	// responses, cut or stalled connections, errors after retries), with
	// why. They are not damage: nothing is known about their content.
	Unreadable []string
	// Unread counts the objects behind Unreadable (whose list is capped).
	Unread int
	// DamagedPacks are packs that are missing or whose content is bad.
	DamagedPacks []crypto.ID
	// DamagedBlobs are blobs with no intact copy left.
	DamagedBlobs []crypto.ID
	// Affected lists, per snapshot, the paths that need a damaged blob.
	Affected []Affected

	Snapshots, Trees, Packs, Blobs, PacksRead, Keys int
}

// OK reports whether Check found no errors (damage). A report can be OK
// and still incomplete.
func (r *Report) OK() bool { return len(r.Errors) == 0 }

// Complete reports whether every object could be read.
func (r *Report) Complete() bool { return r.Unread == 0 }

// Incomplete returns an error wrapping ErrIncomplete when some objects
// could not be read, else nil.
func (r *Report) Incomplete() error {
	if r.Complete() {
		return nil
	}
	return fmt.Errorf("%w: %d object(s) could not be read; run check again when the storage is reachable", ErrIncomplete, r.Unread)
}

// maxErrors bounds the error messages kept; a badly damaged repository
// would otherwise produce one per blob.
const maxErrors = 1000

// location is one place the index gives for a blob.
type location struct {
	blob, pack crypto.ID
	offset     uint32
}

// checker holds the state of one Check run.
type checker struct {
	r    *verified // the repository, with the index Check loaded itself
	opts Options

	packs     map[crypto.ID]int64     // listed packs and their sizes
	condemned map[crypto.ID]crypto.ID // pack → deletion marker condemning it
	byPack    map[crypto.ID][]index.Entry
	snaps     []snapshot.Entry

	mu         sync.Mutex
	report     Report
	dropped    int // errors beyond maxErrors
	droppedUnr int // unreadable objects beyond maxErrors
	// indexIncomplete and markersIncomplete record that an index object
	// or a deletion marker could not be read: a blob "in no index" or a
	// pack "missing" is then not proven damage.
	indexIncomplete, markersIncomplete bool
	// indexBad records that an index object was damaged or unreadable:
	// packs in no index are then not litter of interrupted runs.
	indexBad   bool
	damaged    map[crypto.ID]bool
	badLoc     map[location]bool
	suspect    map[crypto.ID]pack.BlobType // blobs with a bad location
	unindexed  map[crypto.ID]bool          // referenced blobs with no usable location
	lostTrees  map[crypto.ID]bool          // tree blobs that failed to load
	progressMu sync.Mutex
}

// Check verifies the repository r as described in the package
// documentation. Damage goes into the report; the error is for failures
// that stop the check itself (a cancelled context, an unlistable store,
// a bad Subset).
func Check(ctx context.Context, r Repo, opts Options) (*Report, error) {
	if opts.Connections <= 0 {
		opts.Connections = repo.DefaultConnections
	}
	var subset Subset
	if opts.Subset != "" {
		var err error
		if subset, err = ParseSubset(opts.Subset); err != nil {
			return nil, err
		}
		opts.ReadData = true
	}
	packs := make(map[crypto.ID]int64)
	c := &checker{
		r: &verified{Repo: r, idx: index.NewSet(), packs: packs}, opts: opts,
		packs:     packs,
		condemned: make(map[crypto.ID]crypto.ID),
		byPack:    make(map[crypto.ID][]index.Entry),
		damaged:   make(map[crypto.ID]bool),
		badLoc:    make(map[location]bool),
		suspect:   make(map[crypto.ID]pack.BlobType),
		unindexed: make(map[crypto.ID]bool),
		lostTrees: make(map[crypto.ID]bool),
	}
	steps := []func(context.Context) error{
		c.loadIndex,
		c.loadMarkers,
		c.checkKeys,
		c.checkLeases,
		c.checkPacks,
		c.checkHeaders,
		c.checkSnapshots,
	}
	if opts.ReadData {
		steps = append(steps, func(ctx context.Context) error { return c.readData(ctx, subset) })
	}
	steps = append(steps, c.reportDamage)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return c.finish(), nil
}

// errorf records damage.
func (c *checker) errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.report.Errors) >= maxErrors {
		c.dropped++
		return
	}
	c.report.Errors = append(c.report.Errors, fmt.Sprintf(format, args...))
}

// unreadablef records an object the storage did not deliver.
func (c *checker) unreadablef(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Unread++
	if len(c.report.Unreadable) >= maxErrors {
		c.droppedUnr++
		return
	}
	c.report.Unreadable = append(c.report.Unreadable, fmt.Sprintf(format, args...))
}

// fail records that object could not be loaded: as damage when err wraps
// repo.ErrCorrupt (bytes were received and failed their checks), else as
// unreadable (the storage did not deliver them). It reports which.
func (c *checker) fail(object string, err error) (damaged bool) {
	if errors.Is(err, repo.ErrCorrupt) {
		c.errorf("%s is damaged: %v", object, err)
		return true
	}
	c.unreadablef("%s: %v", object, err)
	return false
}

// infof records a finding that needs no action.
func (c *checker) infof(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Info = append(c.report.Info, fmt.Sprintf(format, args...))
}

// markDamaged records a damaged pack. c.mu must not be held.
func (c *checker) markDamaged(p crypto.ID) {
	c.mu.Lock()
	c.damaged[p] = true
	c.mu.Unlock()
}

// markBad records a bad location of a blob. c.mu must not be held.
func (c *checker) markBad(e index.Entry) {
	c.mu.Lock()
	c.badLoc[location{e.ID, e.Pack, e.Offset}] = true
	c.suspect[e.ID] = e.Type
	c.mu.Unlock()
}

func (c *checker) progress(stage Stage, done, total int) {
	if c.opts.Progress == nil {
		return
	}
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	c.opts.Progress(stage, done, total)
}

func (c *checker) readProgress(p ReadProgress) {
	if c.opts.ReadProgress == nil {
		return
	}
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	c.opts.ReadProgress(p)
}

// finish sorts the report's lists so that output is stable.
func (c *checker) finish() *Report {
	rep := c.report
	if c.dropped > 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("… and %d more errors", c.dropped))
	}
	if c.droppedUnr > 0 {
		rep.Unreadable = append(rep.Unreadable, fmt.Sprintf("… and %d more objects", c.droppedUnr))
	}
	rep.DamagedPacks = sortedIDs(c.damaged)
	slices.SortFunc(rep.Affected, func(a, b Affected) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Snapshot[:], b.Snapshot[:]); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return &rep
}

func sortedIDs(set map[crypto.ID]bool) []crypto.ID {
	out := make([]crypto.ID, 0, len(set))
	for id, ok := range set {
		if ok {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, compareIDs)
	return out
}

func compareIDs(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) }
