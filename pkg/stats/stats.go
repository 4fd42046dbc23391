package stats

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Repo is what Compute needs of a repository; *repo.Repository satisfies
// it. The index must be loaded.
type Repo interface {
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
	Index() repo.IndexReader
	ListPacks(ctx context.Context, fn func(id crypto.ID, size int64) error) error
}

var _ Repo = (*repo.Repository)(nil)

// Totals are the figures of a set of snapshots.
type Totals struct {
	Snapshots int `json:"snapshots"`
	// Files counts file entries (each hard link once per snapshot);
	// RestoreSize is the bytes a restore of every snapshot would write.
	Files       uint64 `json:"files"`
	RestoreSize uint64 `json:"restore_size"`
	// Blobs counts the distinct blobs the snapshots reference, DataBlobs
	// and TreeBlobs by kind; UniqueSize is their plaintext bytes (each
	// blob once: the deduplicated size) and StoredSize the bytes they
	// take in packs (compressed and sealed). Packs counts the packs
	// holding them.
	Blobs      int    `json:"blobs"`
	DataBlobs  int    `json:"data_blobs"`
	TreeBlobs  int    `json:"tree_blobs"`
	UniqueSize uint64 `json:"unique_size"`
	StoredSize uint64 `json:"stored_size"`
	Packs      int    `json:"packs"`
}

// Snapshot is the figures of one snapshot.
type Snapshot struct {
	ID          crypto.ID `json:"-"`
	Time        time.Time `json:"time"`
	Host        string    `json:"host"`
	Paths       []string  `json:"paths"`
	Files       uint64    `json:"files"`
	RestoreSize uint64    `json:"restore_size"`
	// OnlyBlobs counts the blobs no other snapshot references; OnlySize
	// is their plaintext, OnlyStored their stored bytes.
	OnlyBlobs  int    `json:"only_blobs"`
	OnlySize   uint64 `json:"only_size"`
	OnlyStored uint64 `json:"only_stored"`
	// Freed is what forgetting this snapshot alone and pruning would free:
	// the packs only it uses, whole, and its blobs in other packs.
	Freed uint64 `json:"freed"`
}

// Result is what Compute found.
type Result struct {
	Totals
	Snapshots []Snapshot `json:"per_snapshot"`
}

// owner values besides a snapshot's position.
const shared = -1

type blobKey struct {
	t  pack.BlobType
	id crypto.ID
}

type treeTotals struct{ files, bytes uint64 }

// Compute gives the figures of the snapshots selected (positions in all,
// every snapshot of the repository; nil selects all).
func Compute(ctx context.Context, r Repo, all []snapshot.Entry, selected []int) (*Result, error) {
	if selected == nil {
		selected = make([]int, len(all))
		for i := range all {
			selected[i] = i
		}
	}
	w := &walker{r: r, owner: make(map[blobKey]int), totals: make(map[crypto.ID]treeTotals)}
	per := make([]treeTotals, len(all))
	for i, e := range all {
		t, err := w.dir(ctx, i, e.Snapshot.Tree, "/")
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", e.ID.Short(), err)
		}
		per[i] = t
	}
	m := &measure{r: r, plain: make(map[blobKey]uint64)}
	if err := m.packs(ctx, w.owner); err != nil {
		return nil, err
	}
	res := &Result{}
	res.Totals.Snapshots = len(selected)
	isSelected := make(map[int]bool, len(selected))
	for _, i := range selected {
		isSelected[i] = true
		e := all[i]
		res.Files += per[i].files
		res.RestoreSize += per[i].bytes
		res.Snapshots = append(res.Snapshots, Snapshot{ID: e.ID, Time: e.Snapshot.Time, Host: e.Snapshot.Host, Paths: e.Snapshot.Paths,
			Files: per[i].files, RestoreSize: per[i].bytes})
	}
	// The blobs the selection references: all of them, or a union walk.
	refs := w.owner
	if len(selected) != len(all) {
		u := &walker{r: r, owner: make(map[blobKey]int), totals: w.totals}
		for _, i := range selected {
			if _, err := u.dir(ctx, 0, all[i].Snapshot.Tree, "/"); err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", all[i].ID.Short(), err)
			}
		}
		refs = u.owner
	}
	packsUsed := make(map[crypto.ID]struct{})
	for k := range refs {
		e, ok := m.entry(k)
		if !ok {
			return nil, fmt.Errorf("%s blob %s is not in the index: %w; run cairn check", k.t, k.id, repo.ErrBlobNotFound)
		}
		plain, err := m.plainLen(ctx, k, e)
		if err != nil {
			return nil, err
		}
		res.Blobs++
		if k.t == pack.TreeBlob {
			res.TreeBlobs++
		} else {
			res.DataBlobs++
		}
		res.UniqueSize += plain
		res.StoredSize += uint64(e.Length)
		packsUsed[e.Pack] = struct{}{}
	}
	res.Packs = len(packsUsed)
	pos := make(map[int]int, len(selected)) // snapshot position → index in res.Snapshots
	for j, i := range selected {
		pos[i] = j
	}
	for k, o := range w.owner {
		j, ok := pos[o]
		if o == shared || !ok {
			continue
		}
		e, _ := m.entry(k)
		plain, err := m.plainLen(ctx, k, e)
		if err != nil {
			return nil, err
		}
		s := &res.Snapshots[j]
		s.OnlyBlobs++
		s.OnlySize += plain
		s.OnlyStored += uint64(e.Length)
	}
	for i, freed := range m.freed {
		if j, ok := pos[i]; ok {
			res.Snapshots[j].Freed = freed
		}
	}
	return res, nil
}

// walker marks blob owners and sums files and sizes per tree run.
type walker struct {
	r      Repo
	owner  map[blobKey]int
	totals map[crypto.ID]treeTotals // by tree blob, once walked whole
}

// dir walks the runs of one directory for snapshot i.
func (w *walker) dir(ctx context.Context, i int, subtree []crypto.ID, path string) (treeTotals, error) {
	var sum treeTotals
	for _, id := range subtree {
		t, err := w.run(ctx, i, id, path)
		if err != nil {
			return sum, err
		}
		sum.files += t.files
		sum.bytes += t.bytes
	}
	return sum, nil
}

// mark records that snapshot i references k and reports whether that
// changed anything (so the blob's children need marking too).
func (w *walker) mark(i int, k blobKey) bool {
	o, seen := w.owner[k]
	switch {
	case !seen:
		w.owner[k] = i
		return true
	case o == i || o == shared:
		return false
	}
	w.owner[k] = shared
	return true
}

func (w *walker) run(ctx context.Context, i int, id crypto.ID, path string) (treeTotals, error) {
	if err := ctx.Err(); err != nil {
		return treeTotals{}, err
	}
	changed := w.mark(i, blobKey{pack.TreeBlob, id})
	if t, ok := w.totals[id]; ok && !changed {
		return t, nil
	}
	plain, err := w.r.LoadBlob(ctx, pack.TreeBlob, id)
	if err != nil {
		return treeTotals{}, fmt.Errorf("directory %s: tree blob %s: %w", path, id, err)
	}
	nodes, err := snapshot.DecodeTree(plain)
	if err != nil {
		return treeTotals{}, fmt.Errorf("directory %s: tree blob %s: %w", path, id, err)
	}
	var sum treeTotals
	for _, n := range nodes {
		switch n.Type {
		case snapshot.NodeFile:
			sum.files++
			sum.bytes += n.Size
			for _, b := range n.Content {
				w.mark(i, blobKey{pack.DataBlob, b})
			}
		case snapshot.NodeDir:
			t, err := w.dir(ctx, i, n.Subtree, path+string(n.Name)+"/")
			if err != nil {
				return treeTotals{}, err
			}
			sum.files += t.files
			sum.bytes += t.bytes
		}
	}
	w.totals[id] = sum
	return sum, nil
}

// measure looks blobs up and works out what forgetting frees.
type measure struct {
	r     Repo
	plain map[blobKey]uint64 // lengths measured by reading the blob
	freed map[int]uint64     // by snapshot position
}

// entry is the index entry a blob is read from: a copy of its type.
func (m *measure) entry(k blobKey) (index.Entry, bool) {
	for _, e := range m.r.Index().LookupAll(k.id) {
		if e.Type == k.t {
			return e, true
		}
	}
	return index.Entry{}, false
}

// plainLen is the blob's plaintext length: recorded, or measured.
func (m *measure) plainLen(ctx context.Context, k blobKey, e index.Entry) (uint64, error) {
	if e.PlainLen > 0 {
		return uint64(e.PlainLen), nil
	}
	if n, ok := m.plain[k]; ok {
		return n, nil
	}
	data, err := m.r.LoadBlob(ctx, k.t, k.id)
	if err != nil {
		return 0, fmt.Errorf("measure %s blob %s: %w", k.t, k.id, err)
	}
	m.plain[k] = uint64(len(data))
	return uint64(len(data)), nil
}

// packs works out, from every index entry, what forgetting each snapshot
// would free: whole packs whose referenced blobs it alone references, and
// its blobs' stored bytes in the others.
func (m *measure) packs(ctx context.Context, owner map[blobKey]int) error {
	type loc struct {
		pack   crypto.ID
		offset uint32
	}
	type packInfo struct {
		owners []int // distinct owners of its referenced blobs
		only   map[int]uint64
	}
	seen := make(map[loc]struct{})
	infos := make(map[crypto.ID]*packInfo)
	err := m.r.Index().Each(func(e index.Entry) error {
		l := loc{e.Pack, e.Offset}
		if _, dup := seen[l]; dup {
			return nil
		}
		seen[l] = struct{}{}
		o, ok := owner[blobKey{e.Type, e.ID}]
		if !ok {
			return nil // garbage: referenced by no snapshot
		}
		pi := infos[e.Pack]
		if pi == nil {
			pi = &packInfo{only: make(map[int]uint64)}
			infos[e.Pack] = pi
		}
		if !slices.Contains(pi.owners, o) {
			pi.owners = append(pi.owners, o)
		}
		if o != shared {
			pi.only[o] += uint64(e.Length)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the index: %w", err)
	}
	sizes := make(map[crypto.ID]int64)
	if err := m.r.ListPacks(ctx, func(id crypto.ID, size int64) error {
		sizes[id] = size
		return nil
	}); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	m.freed = make(map[int]uint64)
	for id, pi := range infos {
		size, exists := sizes[id]
		if len(pi.owners) == 1 && pi.owners[0] != shared && exists {
			m.freed[pi.owners[0]] += uint64(size)
			continue
		}
		for o, n := range pi.only {
			m.freed[o] += n
		}
	}
	return nil
}
