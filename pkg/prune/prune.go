package prune

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// Repo is what Prune needs of a repository; *repo.Repository satisfies it.
type Repo interface {
	LoadIndex(ctx context.Context) error
	MergeIndex(ctx context.Context, drop func(pack crypto.ID) bool) (int, error)
	Index() repo.IndexReader
	Skipped() []repo.SkippedObject
	ListObjects(ctx context.Context, kind string) ([]crypto.ID, error)
	ListObjectInfos(ctx context.Context, kind string) ([]repo.ObjectInfo, error)
	LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error)
	SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error)
	DeleteObject(ctx context.Context, kind string, id crypto.ID) error
	ListPacks(ctx context.Context, fn func(id crypto.ID, size int64) error) error
	ReadPackHeader(ctx context.Context, id crypto.ID) ([]pack.Entry, int64, error)
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
	LoadPackBlobs(ctx context.Context, packID crypto.ID, entries []index.Entry, opts repo.PackReadOptions, fn repo.BlobFunc) error
	DeletePack(ctx context.Context, id crypto.ID) error
	SetAside(packs []crypto.ID)
	NewSaver(ctx context.Context, opts repo.SaverOptions) *repo.Saver
	StartLease(ctx context.Context, operation string) (*repo.Lease, error)
	LoadLease(ctx context.Context, id crypto.ID) (repo.LeaseRecord, error)
	LoadDeletion(ctx context.Context, id crypto.ID) (repo.Deletion, error)
	SaveDeletion(ctx context.Context, d repo.Deletion) (crypto.ID, error)
}

var _ Repo = (*repo.Repository)(nil)

// Defaults for Options' zero values.
const (
	DefaultRepackThreshold = 0.5
	DefaultLeaseTTL        = repo.LeaseLifetime
)

// Options configure Prune.
type Options struct {
	// RepackThreshold: packs with less than this fraction of their bytes
	// in use are repacked. Zero means DefaultRepackThreshold; a negative
	// value turns repacking off (only wholly unused packs are removed).
	RepackThreshold float64
	// MaxRepackBytes bounds the live bytes copied by repacking in one run
	// (the least used packs go first); 0 means no limit.
	MaxRepackBytes int64
	// DryRun computes what phase 1 would condemn and repack, and how many
	// markers wait, without writing or deleting anything.
	DryRun bool
	// DeleteVersions, on a versioned bucket, removes for good the old
	// versions of deleted packs that the index no longer references
	// (repo.PurgeDeletedPacks), so their space comes back now rather than
	// when a lifecycle rule expires them. It needs credentials that may
	// delete versions.
	DeleteVersions bool
	// MinPackAge leaves packs younger than this (by server time) alone:
	// neither deleted nor repacked. Providers with a minimum storage
	// duration (Wasabi: 90 days) bill a young pack's remaining days
	// anyway, and repacking it would pay twice.
	MinPackAge time.Duration
	// Grace keeps a marker for at least this long (by server time) before
	// sweeping it, on top of the lease rules. Zero relies on leases alone.
	Grace time.Duration
	// LeaseTTL is the age after which a run's lease no longer counts as
	// live; zero means DefaultLeaseTTL (the format's 30 minutes).
	LeaseTTL time.Duration
	// Connections bounds concurrent storage requests; default 8.
	Connections int
	// Log, if set, receives one line per notable event (a marker waiting
	// for a backup, a pack rescued, a pack that fails its checks).
	Log func(msg string)
	// Host is this machine's name as leases record it (the repository's
	// OpenOptions.Host). A lease of a run on Host whose process no longer
	// exists (ProcessAlive) does not block a sweep: a killed backup or
	// prune on this machine does not delay the next prune. "" turns the
	// rule off. Host must name one process namespace: two containers that
	// share a host name but not their PIDs must not both set it.
	Host string
	// ProcessAlive reports whether process pid exists on this machine;
	// nil means kill(pid, 0).
	ProcessAlive func(pid int) bool
	// Progress, if set, is called as the long stages advance (see
	// Progress), never concurrently.
	Progress func(Progress)
}

// Stages of Prune that report Progress.
const (
	// StageRepack copies the live blobs out of mostly unused packs;
	// Packs and Bytes count the packs read and the live bytes copied.
	StageRepack = "repack"
	// StageSweep deletes the packs of deletion markers no live run
	// blocks; Packs and Bytes count the packs dealt with (deleted, gone
	// already, or kept because a snapshot needs them) and their size.
	StageSweep = "sweep"
)

// Progress is how far a stage of Prune is, of totals known when the
// stage starts.
type Progress struct {
	Stage             string
	Packs, TotalPacks int
	Bytes, TotalBytes int64
}

// Stats count what a Prune did (or, with DryRun, would do).
type Stats struct {
	Snapshots int `json:"snapshots"` // snapshots the last phase saw

	PacksCondemned int   `json:"packs_condemned"` // packs named by the marker written (phase 1)
	BytesCondemned int64 `json:"bytes_condemned"` // their size
	PacksRepacked  int   `json:"packs_repacked"`  // packs whose live blobs were copied before condemning
	BlobsRepacked  int   `json:"blobs_repacked"`
	BytesRepacked  int64 `json:"bytes_repacked"` // live bytes copied

	PacksDeleted int `json:"packs_deleted"` // packs deleted by sweeps
	// Versioned is set when the bucket keeps versions: deleted packs are
	// then only hidden until their noncurrent versions expire or are
	// purged (DeleteVersions).
	Versioned       bool  `json:"versioned,omitempty"`
	VersionsDeleted int   `json:"versions_deleted,omitempty"`
	VersionBytes    int64 `json:"version_bytes_freed,omitempty"`
	VersionsLocked  int   `json:"versions_locked,omitempty"` // refused: object lock, or no right to delete versions
	BytesFreed      int64 `json:"bytes_freed"`               // their size
	PacksTooYoung   int   `json:"packs_too_young,omitempty"` // left alone by MinPackAge
	PacksRescued    int   `json:"packs_rescued"`             // condemned packs kept because a later snapshot needs them
	IndexesMerged   int   `json:"indexes_merged"`            // index objects replaced by a merged one

	Markers        int `json:"markers"`         // deletion markers written
	MarkersSwept   int `json:"markers_swept"`   // markers completed and removed
	MarkersPending int `json:"markers_pending"` // markers left for a later prune (live backups or Grace)
	LeasesRemoved  int `json:"leases_removed"`  // lease objects of finished or expired runs removed
	TempsRemoved   int `json:"temps_removed"`   // temporary files of interrupted uploads removed

	// BadPacks names the packs whose header is damaged or implausible,
	// that an index misplaces, or whose blobs failed to authenticate when
	// prune read them: they are never kept as the copy of a blob, and are
	// deleted only as any other pack, once every blob they may hold has a
	// copy prune has read elsewhere.
	BadPacks []string `json:"bad_packs,omitempty"`
	// BlobsVerified counts the copies prune read and authenticated before
	// deleting another copy of the same blob.
	BlobsVerified int `json:"blobs_verified"`
}

// ErrNeedsDelete means the storage refused a delete: prune was run with
// append-only credentials.
var ErrNeedsDelete = errors.New("prune needs credentials that may delete (these look append-only); run it where the repository's full credentials are configured")

// deleteErr turns a permission error into a clear message.
func deleteErr(what string, err error) error {
	if errors.Is(err, storage.ErrPermission) {
		return fmt.Errorf("delete %s: %w: %w", what, ErrNeedsDelete, err)
	}
	return fmt.Errorf("delete %s: %w", what, err)
}

// pruner holds the state of one Prune run.
type pruner struct {
	r     Repo
	opts  Options
	stats Stats
	run   string // our lease's run ID, "" in a dry run

	// packTimes are the packs' server times, loaded when MinPackAge is
	// set (see young).
	packTimes map[crypto.ID]time.Time

	// refs caches the referenced blobs for a set of snapshots, which
	// never change content under the same IDs.
	refsFor []crypto.ID
	refs    refSet

	// What this run has learned of packs, which never change under the
	// same name: their headers and whether they are bad (packs.go), and
	// which stored copies it has read and authenticated, or written
	// itself (prove.go).
	mu       sync.Mutex
	packs    map[crypto.ID]*packInfo
	verified map[copyKey]bool

	progressMu sync.Mutex
}

// progress reports pr, holding progressMu so that Options.Progress is
// never called concurrently.
func (p *pruner) progress(pr Progress) {
	if p.opts.Progress == nil {
		return
	}
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	p.opts.Progress(pr)
}

// Prune runs the two phases of the package documentation: it sweeps the
// markers that no live backup blocks, marks what the current snapshots do
// not need (repacking mostly unused packs), and sweeps again. The repository
// stays consistent if Prune is interrupted at any point; the next run
// completes the work.
func Prune(ctx context.Context, r Repo, opts Options) (stats *Stats, err error) {
	if opts.RepackThreshold == 0 {
		opts.RepackThreshold = DefaultRepackThreshold
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Connections <= 0 {
		opts.Connections = repo.DefaultConnections
	}
	if opts.ProcessAlive == nil {
		opts.ProcessAlive = processAlive
	}
	p := &pruner{r: r, opts: opts, packs: make(map[crypto.ID]*packInfo), verified: make(map[copyKey]bool)}
	if opts.DryRun {
		err := p.dryRun(ctx)
		return &p.stats, err
	}

	lease, err := r.StartLease(ctx, "prune")
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	p.run = lease.Run()
	defer func() {
		// Ending the lease lets other prunes sweep without waiting for it
		// to expire; do it even when ctx was cancelled.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if doneErr := lease.Done(endCtx); doneErr != nil && err == nil {
			err = fmt.Errorf("prune finished but could not end its lease: %w", doneErr)
		}
	}()

	if err := p.sweep(ctx); err != nil {
		return &p.stats, err
	}
	marked, err := p.mark(ctx)
	if err != nil {
		return &p.stats, err
	}
	if marked {
		if err := p.sweep(ctx); err != nil {
			return &p.stats, err
		}
	}
	if err := p.removeOldLeases(ctx); err != nil {
		return &p.stats, err
	}
	p.removeStaleTemps(ctx)
	if err := p.purgeVersions(ctx); err != nil {
		return &p.stats, err
	}
	return &p.stats, nil
}

// versionPurger is implemented by repositories on stores that keep
// versions (*repo.Repository).
type versionPurger interface {
	Versioned(ctx context.Context) bool
	PurgeDeletedPacks(ctx context.Context) (repo.PurgeStats, error)
}

// purgeVersions notes a versioned bucket and, with DeleteVersions, removes
// the old versions of deleted packs. It runs after the index was merged,
// so the packs it judges unreferenced are the ones this or an earlier
// prune deleted.
func (p *pruner) purgeVersions(ctx context.Context) error {
	vp, ok := p.r.(versionPurger)
	if !ok || !vp.Versioned(ctx) {
		return nil
	}
	p.stats.Versioned = true
	if !p.opts.DeleteVersions {
		return nil
	}
	st, err := vp.PurgeDeletedPacks(ctx)
	p.stats.VersionsDeleted += st.Versions
	p.stats.VersionBytes += st.Bytes
	p.stats.VersionsLocked += st.Locked
	if err != nil {
		return fmt.Errorf("prune: delete old versions: %w", err)
	}
	if st.Locked > 0 {
		p.logf("%d old versions could not be deleted yet (object lock retention, or credentials that may not delete versions); a later prune --delete-versions tries again", st.Locked)
	}
	return nil
}

// tempRemover is implemented by repositories whose storage keeps the
// temporary files of interrupted uploads (a local directory).
type tempRemover interface {
	RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (int, int64, error)
}

// staleTempAge is how old a temporary file must be before prune removes
// it: far longer than any upload of one pack takes.
const staleTempAge = time.Hour

// removeStaleTemps removes temporary files older than staleTempAge. A
// failure only leaves them for the next run, so it is logged, not returned.
func (p *pruner) removeStaleTemps(ctx context.Context) {
	tr, ok := p.r.(tempRemover)
	if !ok {
		return
	}
	n, size, err := tr.RemoveStaleTemps(ctx, staleTempAge)
	if err != nil {
		p.logf("temporary files of interrupted uploads stay for now: %v", err)
		return
	}
	p.stats.TempsRemoved += n
	if n > 0 {
		p.logf("removed %d temporary files of interrupted uploads (%d bytes)", n, size)
	}
}

func (p *pruner) logf(format string, args ...any) {
	if p.opts.Log != nil {
		p.opts.Log(fmt.Sprintf(format, args...))
	}
}

// SnapshotDeleter deletes repository objects; *repo.Repository satisfies
// it.
type SnapshotDeleter interface {
	DeleteObject(ctx context.Context, kind string, id crypto.ID) error
}

// Forget deletes the snapshot objects ids. Their data stays until a prune
// finds it unreferenced. Deleting a snapshot that is already gone is not an
// error. Combine it with forget.Apply to apply a retention policy.
func Forget(ctx context.Context, r SnapshotDeleter, ids []crypto.ID) error {
	// The record goes first (FORMAT.md section 13): other clients then
	// know the snapshots were removed on purpose, not hidden.
	if rec, ok := r.(interface {
		RecordForgotten(ctx context.Context, snapshots, keys []crypto.ID) (crypto.ID, error)
	}); ok && len(ids) > 0 {
		if _, err := rec.RecordForgotten(ctx, ids, nil); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	for _, id := range ids {
		if err := r.DeleteObject(ctx, repo.KindSnapshot, id); err != nil {
			if errors.Is(err, storage.ErrPermission) {
				return fmt.Errorf("forget snapshot %s: forgetting needs credentials that may delete (these look append-only): %w", id.Short(), err)
			}
			return fmt.Errorf("forget snapshot %s: %w", id.Short(), err)
		}
	}
	return nil
}
