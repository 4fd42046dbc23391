package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// ObjectKind is the repository object kind of snapshots.
const ObjectKind = "snapshot"

// loadConcurrency bounds parallel snapshot loads in List. Snapshots are
// small, so latency, not bandwidth, is what parallelism hides.
const loadConcurrency = 8

// ObjectStore loads and saves repository objects of a kind. The repository
// satisfies it. LoadObject of a missing object returns an error wrapping
// storage.ErrNotFound.
type ObjectStore interface {
	ListObjects(ctx context.Context, kind string) ([]crypto.ID, error)
	LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error)
	SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error)
}

// Skipper is implemented by object stores that let a listing pass over a
// damaged snapshot object instead of failing (the repository does). List,
// Find("latest") and FindParent use it when o has it; without it, damage
// is an error as before.
type Skipper interface {
	// Damaged reports whether err from LoadObject means the object's
	// bytes arrived and failed a check (hash, authentication, size
	// limit), as opposed to storage not delivering them, which must stop
	// the listing.
	Damaged(err error) bool
	// SkipObject records that the object of kind named id was passed over
	// because of err, and warns naming it. List calls it from several
	// goroutines at once.
	SkipObject(kind string, id crypto.ID, err error)
}

// ErrUndecodable marks a snapshot object that was loaded and authenticated
// but whose body does not decode.
var ErrUndecodable = errors.New("snapshot does not decode")

// Entry is a loaded snapshot with its ID.
type Entry struct {
	ID       crypto.ID
	Snapshot *Snapshot
}

var (
	// ErrSnapshotNotFound means no snapshot matches a reference.
	ErrSnapshotNotFound = errors.New("snapshot not found")
	// ErrAmbiguous means an ID prefix matches more than one snapshot.
	ErrAmbiguous = errors.New("ambiguous snapshot ID prefix")
)

// Save stores s and returns its ID.
func Save(ctx context.Context, o ObjectStore, s *Snapshot) (crypto.ID, error) {
	body, err := s.Marshal()
	if err != nil {
		return crypto.ID{}, err
	}
	id, err := o.SaveObject(ctx, ObjectKind, body)
	if err != nil {
		return crypto.ID{}, fmt.Errorf("save snapshot: %w", err)
	}
	return id, nil
}

// load loads and decodes one snapshot.
func load(ctx context.Context, o ObjectStore, id crypto.ID) (*Snapshot, error) {
	body, err := o.LoadObject(ctx, ObjectKind, id)
	if err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", id, err)
	}
	s, err := UnmarshalSnapshot(body)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w: %w", id, ErrUndecodable, err)
	}
	return s, nil
}

// skippable reports whether the load error err is damage that a listing
// passes over, and if so tells o. Undecodable bodies always are; load
// errors only when o says they are damage.
func skippable(o ObjectStore, id crypto.ID, err error) bool {
	sk, ok := o.(Skipper)
	if !ok {
		return false
	}
	if !errors.Is(err, ErrUndecodable) && !sk.Damaged(err) {
		return false
	}
	sk.SkipObject(ObjectKind, id, err)
	return true
}

// IsUnreadable reports whether err, from Find, means the snapshot object
// exists but is damaged (o says so) or does not decode: forget can still
// remove it by its ID.
func IsUnreadable(o ObjectStore, err error) bool {
	if errors.Is(err, ErrUndecodable) {
		return true
	}
	sk, ok := o.(Skipper)
	return ok && sk.Damaged(err)
}

// List loads all snapshots, sorted by time (oldest first; ties by ID). A
// snapshot that disappears between listing and loading (removed by a
// concurrent forget) is left out. So is a damaged one when o is a Skipper
// (o warns naming it): one junk object under snapshots/, which anyone with
// write access can plant, must not stop every client. Any other failure,
// storage not delivering, is an error.
func List(ctx context.Context, o ObjectStore) ([]Entry, error) {
	ids, err := o.ListObjects(ctx, ObjectKind)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	entries := make([]Entry, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			s, err := load(gctx, o, id)
			if errors.Is(err, storage.ErrNotFound) || (err != nil && skippable(o, id, err)) {
				return nil
			}
			if err != nil {
				return err
			}
			entries[i] = Entry{ID: id, Snapshot: s}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	entries = slices.DeleteFunc(entries, func(e Entry) bool { return e.Snapshot == nil })
	slices.SortFunc(entries, func(a, b Entry) int {
		if c := a.Snapshot.Time.Compare(b.Snapshot.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return entries, nil
}

// Filter selects snapshots. Empty fields match everything.
type Filter struct {
	Hosts []string // the snapshot's host is one of these
	Tags  []string // the snapshot has every one of these tags
	Paths []string // the snapshot's set of paths equals this set
}

// Match reports whether s passes the filter. Paths are compared as sets of
// cleaned paths, so order, duplicates and trailing slashes do not matter.
func (f Filter) Match(s *Snapshot) bool {
	if len(f.Hosts) > 0 && !slices.Contains(f.Hosts, s.Host) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(s.Tags, t) {
			return false
		}
	}
	return len(f.Paths) == 0 || samePaths(f.Paths, s.Paths)
}

func (f Filter) String() string {
	var parts []string
	if len(f.Hosts) > 0 {
		parts = append(parts, "host "+strings.Join(f.Hosts, " or "))
	}
	if len(f.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(f.Tags, " and "))
	}
	if len(f.Paths) > 0 {
		parts = append(parts, "paths "+strings.Join(f.Paths, ", "))
	}
	if len(parts) == 0 {
		return "no filter"
	}
	return strings.Join(parts, "; ")
}

// samePaths reports whether a and b hold the same set of cleaned paths.
func samePaths(a, b []string) bool {
	return slices.Equal(pathSet(a), pathSet(b))
}

func pathSet(paths []string) []string {
	set := make([]string, len(paths))
	for i, p := range paths {
		set[i] = path.Clean(p)
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// Find resolves ref to one snapshot that matches f: "latest" is the newest
// matching snapshot; otherwise ref is a snapshot ID or a unique prefix of
// one (hex digits, any case). Errors wrap ErrSnapshotNotFound or
// ErrAmbiguous and say what to do next.
func Find(ctx context.Context, o ObjectStore, ref string, f Filter) (Entry, error) {
	if ref == "latest" {
		return findLatest(ctx, o, f)
	}
	prefix := strings.ToLower(ref)
	if prefix == "" || len(prefix) > 2*crypto.IDSize || strings.Trim(prefix, "0123456789abcdef") != "" {
		return Entry{}, fmt.Errorf("%w: %q is not a snapshot reference: give \"latest\" or a snapshot ID or its first hex digits", ErrSnapshotNotFound, ref)
	}
	var id crypto.ID
	if len(prefix) == 2*crypto.IDSize {
		id, _ = crypto.ParseID(prefix)
	} else {
		var err error
		if id, err = resolvePrefix(ctx, o, prefix); err != nil {
			return Entry{}, err
		}
	}
	s, err := load(ctx, o, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Entry{}, fmt.Errorf("%w: no snapshot %s; run \"cairn snapshots\" to list them", ErrSnapshotNotFound, id)
	}
	if err != nil {
		return Entry{}, err
	}
	if !f.Match(s) {
		return Entry{}, fmt.Errorf("%w: snapshot %s does not match the filter (%v); drop the filter or pick another snapshot", ErrSnapshotNotFound, id.Short(), f)
	}
	return Entry{ID: id, Snapshot: s}, nil
}

// ResolveID resolves ref, a snapshot ID or a unique prefix of one, to an
// ID without loading the snapshot, so that an unreadable snapshot can
// still be named (and forgotten).
func ResolveID(ctx context.Context, o ObjectStore, ref string) (crypto.ID, error) {
	prefix := strings.ToLower(ref)
	if prefix == "" || len(prefix) > 2*crypto.IDSize || strings.Trim(prefix, "0123456789abcdef") != "" {
		return crypto.ID{}, fmt.Errorf("%w: %q is not a snapshot ID", ErrSnapshotNotFound, ref)
	}
	if len(prefix) == 2*crypto.IDSize {
		id, _ := crypto.ParseID(prefix)
		return id, nil
	}
	return resolvePrefix(ctx, o, prefix)
}

// maxCandidates bounds how many IDs an ambiguity error names.
const maxCandidates = 10

// resolvePrefix finds the one snapshot whose hex ID starts with prefix.
func resolvePrefix(ctx context.Context, o ObjectStore, prefix string) (crypto.ID, error) {
	ids, err := o.ListObjects(ctx, ObjectKind)
	if err != nil {
		return crypto.ID{}, fmt.Errorf("list snapshots: %w", err)
	}
	var matches []crypto.ID
	for _, id := range ids {
		if strings.HasPrefix(id.String(), prefix) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 0:
		return crypto.ID{}, fmt.Errorf("%w: no snapshot ID starts with %q; run \"cairn snapshots\" to list them", ErrSnapshotNotFound, prefix)
	case 1:
		return matches[0], nil
	}
	slices.SortFunc(matches, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	names := make([]string, 0, maxCandidates+1)
	for i, id := range matches {
		if i == maxCandidates {
			names = append(names, fmt.Sprintf("and %d more", len(matches)-i))
			break
		}
		names = append(names, id.String())
	}
	return crypto.ID{}, fmt.Errorf("%w: %q matches %d snapshots (%s); give more digits of the ID",
		ErrAmbiguous, prefix, len(matches), strings.Join(names, ", "))
}

// findLatest returns the newest snapshot matching f.
func findLatest(ctx context.Context, o ObjectStore, f Filter) (Entry, error) {
	entries, err := List(ctx, o)
	if err != nil {
		return Entry{}, err
	}
	if e, ok := newest(entries, f.Match); ok {
		return e, nil
	}
	if len(entries) == 0 {
		return Entry{}, fmt.Errorf("%w: the repository has no snapshots yet; run a backup first", ErrSnapshotNotFound)
	}
	return Entry{}, fmt.Errorf("%w: none of the %d snapshots matches %v; run \"cairn snapshots\" to see hosts, tags and paths", ErrSnapshotNotFound, len(entries), f)
}

// newest returns the last entry (in List order) for which match is true.
func newest(entries []Entry, match func(*Snapshot) bool) (Entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if match(entries[i].Snapshot) {
			return entries[i], true
		}
	}
	return Entry{}, false
}

// FindParent returns the newest snapshot of host with the same set of
// paths (compared as in Filter.Match), or nil when there is none. The
// archiver uses it to skip reading files whose metadata is unchanged.
func FindParent(ctx context.Context, o ObjectStore, host string, paths []string) (*Entry, error) {
	entries, err := List(ctx, o)
	if err != nil {
		return nil, err
	}
	e, ok := newest(entries, func(s *Snapshot) bool {
		return s.Host == host && samePaths(s.Paths, paths)
	})
	if !ok {
		return nil, nil
	}
	return &e, nil
}
