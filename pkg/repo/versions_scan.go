package repo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// ErrNoVersions means the store keeps no versions of objects, so there is
// nothing to scan or restore: the bucket needs versioning on (see the
// README's "Append-only backups").
var ErrNoVersions = errors.New("the storage keeps no object versions (turn on bucket versioning)")

// KindPack is the kind ScanVersions gives packs (data/…) in its report.
const KindPack = "pack"

// VersionState says what is wrong with an object's current version.
type VersionState int

const (
	// Overwritten: the current version's bytes do not match the name.
	Overwritten VersionState = iota + 1
	// Hidden: a delete marker is the current version.
	Hidden
)

func (s VersionState) String() string {
	switch s {
	case Overwritten:
		return "overwritten"
	case Hidden:
		return "deleted"
	}
	return fmt.Sprintf("VersionState(%d)", int(s))
}

// VersionDamage is an object whose current version is not genuine.
type VersionDamage struct {
	Name  string
	Kind  string // KindSnapshot, KindIndex, KindKey, KindLease, KindDeletion or KindPack
	State VersionState
	// Genuine is the ID of a stored version whose SHA-256 matches the
	// name; "" when none does (it was deleted or expired) or, for hidden
	// objects nothing needs, when it was not looked for.
	Genuine string
	// Needed says a snapshot, an index object or a key needs the object:
	// every snapshot, index object and key file, unless it was removed
	// on purpose (see VersionScanOptions) or, for index objects,
	// superseded by one in use; and every pack an index object in use or
	// a needed hidden one references. Leases and deletion markers are
	// never needed.
	Needed bool
}

// Problem reports whether check must report the object: every overwritten
// object, and every hidden one that is needed.
func (d VersionDamage) Problem() bool { return d.State == Overwritten || d.Needed }

// Restorable reports whether RepairObjects makes the genuine version
// current again: a problem with a genuine version.
func (d VersionDamage) Restorable() bool { return d.Problem() && d.Genuine != "" }

func (d VersionDamage) String() string {
	s := fmt.Sprintf("%s (%s): %s", d.Name, d.Kind, d.State)
	if d.Genuine != "" {
		s += ", genuine version " + d.Genuine
	} else if d.Problem() {
		s += ", no genuine version is stored"
	}
	return s
}

// VersionReport is the result of ScanVersions.
type VersionReport struct {
	// Versioning is whether the store keeps versions now. Without it an
	// overwrite or a deletion cannot be undone.
	Versioning bool
	// VersioningErr is why the store could not say whether versioning is
	// on (credentials that may not read the bucket's settings, say);
	// Versioning is false then.
	VersioningErr error
	// Objects is how many content-addressed names the listing had.
	Objects int
	// Damage lists every object whose current version is not genuine,
	// by name; see VersionDamage.Problem for what check reports.
	Damage []VersionDamage
}

// Problems returns the damage check reports (VersionDamage.Problem).
func (rep VersionReport) Problems() []VersionDamage {
	var out []VersionDamage
	for _, d := range rep.Damage {
		if d.Problem() {
			out = append(out, d)
		}
	}
	return out
}

// VersionScanOptions configure ScanVersions.
type VersionScanOptions struct {
	// Removed, if not nil, reports whether the owner removed a hidden
	// snapshot, key file or index object on purpose (forget, key remove),
	// which then is not needed. Without it every hidden snapshot and key
	// file counts as needed: a versioned bucket keeps what forget deleted
	// as a noncurrent version, and only a record of the forget tells the
	// two apart.
	Removed func(name string) bool
}

// objectKind maps a listed name to its kind and ID, or ok false for config
// and foreign names.
func objectKind(name string) (kind string, id crypto.ID, ok bool) {
	if rest, found := strings.CutPrefix(name, "data/"); found {
		if len(rest) != 3+2*crypto.IDSize || rest[2] != '/' {
			return "", id, false
		}
		id, err := crypto.ParseID(rest[3:])
		if err != nil || rest[:2] != id.String()[:2] {
			return "", id, false
		}
		return KindPack, id, true
	}
	for kind, dir := range kindDirs {
		if id, found := parseName(dir+"/", name); found {
			return kind, id, true
		}
	}
	return "", id, false
}

// versionedObject is the listing of one name.
type versionedObject struct {
	name     string
	kind     string
	id       crypto.ID
	versions []storage.VersionInfo // newest first
}

// ScanVersions lists every version of every object and reports the
// objects whose current version is not genuine: overwritten ones (the
// current bytes do not match the name) and hidden ones (a delete marker is
// current), with the genuine version where one is stored.
//
// An object with a single version was never replaced, so only names with
// several versions are downloaded and hashed: the current version, and
// then older ones, oldest first, until one matches. Hidden objects nothing
// needs (leases, superseded index objects, packs no index references,
// which is what prune and lease upkeep leave behind) are reported without
// looking for their genuine version. ScanVersions loads the index first.
// It needs a store with storage.Versioner, else it returns ErrNoVersions.
func (r *Repository) ScanVersions(ctx context.Context, opts VersionScanOptions) (VersionReport, error) {
	v, ok := storage.AsVersioner(r.store)
	if !ok {
		return VersionReport{}, ErrNoVersions
	}
	var rep VersionReport
	// Credentials that may list versions need not be allowed to read the
	// bucket's settings; the versions are there either way.
	rep.Versioning, rep.VersioningErr = v.Versioning(ctx)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("scan versions: %w", err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		return rep, fmt.Errorf("scan versions: %w", err)
	}
	objects, err := listVersioned(ctx, v)
	if err != nil {
		return rep, err
	}
	rep.Objects = len(objects)

	var (
		mu     sync.Mutex
		damage []VersionDamage
	)
	add := func(d VersionDamage) {
		mu.Lock()
		damage = append(damage, d)
		mu.Unlock()
	}
	superseded := r.supersededByLoaded()
	removed := func(name string) bool { return opts.Removed != nil && opts.Removed(name) }

	// First everything but packs: whether a hidden pack is needed depends
	// on the hidden index objects that are.
	var packs []*versionedObject
	extraPacks := make(map[crypto.ID]bool) // referenced by needed hidden index objects
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, o := range objects {
		if o.kind == KindPack {
			packs = append(packs, o)
			continue
		}
		g.Go(func() error {
			d, bad, err := r.inspect(gctx, v, o, func() bool {
				switch o.kind {
				case KindLease, KindDeletion:
					return false
				case KindIndex:
					_, sup := superseded[o.id]
					return !sup && !removed(o.name)
				}
				return !removed(o.name)
			})
			if err != nil || !bad {
				return err
			}
			add(d)
			if d.Kind == KindIndex && d.Needed && d.Genuine != "" {
				ids, err := r.indexPacksOfVersion(gctx, v, o, d.Genuine)
				if err != nil {
					return err
				}
				mu.Lock()
				for _, id := range ids {
					extraPacks[id] = true
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	referenced := r.indexedPacks()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, o := range packs {
		g.Go(func() error {
			d, bad, err := r.inspect(gctx, v, o, func() bool { return referenced[o.id] || extraPacks[o.id] })
			if bad {
				add(d)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	slices.SortFunc(damage, func(a, b VersionDamage) int { return cmp.Compare(a.Name, b.Name) })
	rep.Damage = damage
	return rep, nil
}

// listVersioned lists every version, grouped by content-addressed name.
func listVersioned(ctx context.Context, v storage.Versioner) ([]*versionedObject, error) {
	var objects []*versionedObject
	err := v.ListVersions(ctx, "", func(vi storage.VersionInfo) error {
		if n := len(objects); n > 0 && objects[n-1].name == vi.Name {
			objects[n-1].versions = append(objects[n-1].versions, vi)
			return nil
		}
		kind, id, ok := objectKind(vi.Name)
		if !ok {
			return nil
		}
		objects = append(objects, &versionedObject{name: vi.Name, kind: kind, id: id, versions: []storage.VersionInfo{vi}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	return objects, nil
}

// inspect decides whether o's current version is genuine. needed is asked
// only for hidden objects, and the genuine version is looked for only when
// the object is overwritten or needed.
func (r *Repository) inspect(ctx context.Context, v storage.Versioner, o *versionedObject, needed func() bool) (VersionDamage, bool, error) {
	latest := o.versions[0]
	for _, vi := range o.versions {
		if vi.IsLatest {
			latest = vi
		}
	}
	d := VersionDamage{Name: o.name, Kind: o.kind}
	limit := r.versionLimit(o.kind)
	switch {
	case latest.DeleteMarker:
		d.State = Hidden
		d.Needed = needed()
		if !d.Needed {
			return d, true, nil
		}
	case len(o.versions) == 1:
		return d, false, nil
	default:
		_, got, err := hashVersion(ctx, v, o.name, latest.VersionID, limit, false)
		if err != nil {
			return d, false, fmt.Errorf("scan versions: %w", err)
		}
		if got == o.id {
			return d, false, nil
		}
		d.State = Overwritten
		d.Needed = o.kind != KindLease && o.kind != KindDeletion
	}
	vid, _, err := genuineVersion(ctx, v, o.name, o.id, limit, false)
	switch {
	case err == nil:
		d.Genuine = vid
	case ctx.Err() != nil:
		return d, true, ctx.Err()
	case !errors.Is(err, errNoGenuineVersion):
		return d, true, fmt.Errorf("scan versions: %w", err)
	}
	return d, true, nil
}

// versionLimit bounds the bytes of one version of kind that a scan hashes.
func (r *Repository) versionLimit(kind string) int64 {
	switch kind {
	case KindPack:
		return r.maxPackVersion()
	case KindKey:
		return maxKeyFileSize
	}
	return maxEnvelopeSize
}

// indexPacksOfVersion returns the packs a hidden index object's genuine
// version references.
func (r *Repository) indexPacksOfVersion(ctx context.Context, v storage.Versioner, o *versionedObject, versionID string) ([]crypto.ID, error) {
	sealed, got, err := hashVersion(ctx, v, o.name, versionID, maxEnvelopeSize, true)
	if err != nil {
		return nil, fmt.Errorf("scan versions: %w", err)
	}
	if got != o.id {
		return nil, fmt.Errorf("scan versions: %s version %s changed while reading: %w", o.name, versionID, ErrCorrupt)
	}
	body, err := r.openObject(KindIndex, o.id, sealed)
	if err != nil {
		return nil, fmt.Errorf("scan versions: %w", err)
	}
	view, err := index.NewView(body)
	if err == nil {
		err = view.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("scan versions: %s: %w: %w", o.name, err, ErrCorrupt)
	}
	return view.Packs(), nil
}

// indexedPacks returns the packs the loaded index references.
func (r *Repository) indexedPacks() map[crypto.ID]bool {
	out := make(map[crypto.ID]bool)
	for _, view := range r.idx.Views() {
		for _, id := range view.Packs() {
			out[id] = true
		}
	}
	for _, e := range r.idx.Added() {
		out[e.Pack] = true
	}
	return out
}
