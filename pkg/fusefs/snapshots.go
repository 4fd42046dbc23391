package fusefs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// timeName is how a snapshot is named in snapshots/, hosts/H/ and tags/T/:
// its local time to the second, as restic mount names them.
const timeName = "2006-01-02T15:04:05Z07:00"

// named is a snapshot with its name in a listing.
type named struct {
	name string
	e    snapshot.Entry
}

// view is one listing of the repository's snapshots, with the names every
// top directory shows.
type view struct {
	all    []named // time order
	ids    []named // named by short ID, time order
	hosts  map[string][]named
	tags   map[string][]named
	latest time.Time
}

// snapshotList lists the repository's snapshots again when asked and the
// last listing is older than every, so that new backups appear without
// remounting while a busy file manager does not list snapshots/ on every
// keystroke. Snapshot objects are content-addressed, so each is loaded
// once; only the listing of names is repeated.
type snapshotList struct {
	store *snapshotStore
	every time.Duration

	// loadIndex loads the index objects written since the last call. A
	// backup writes its index before its snapshot, so once a listing
	// finds a new snapshot, loading the index makes its blobs known.
	loadIndex func(ctx context.Context) error

	// refresh is held while listing; cur is the last listing, read
	// without waiting for one in progress.
	refresh sync.Mutex
	cur     atomic.Pointer[listing]
}

// listing is a view and when it was listed.
type listing struct {
	v  *view
	at time.Time
}

func newSnapshotList(r Repo, every time.Duration) *snapshotList {
	return &snapshotList{
		store:     &snapshotStore{r: r, bodies: map[crypto.ID][]byte{}, skipped: map[crypto.ID]bool{}},
		every:     every,
		loadIndex: r.LoadIndex,
	}
}

// last returns the last listing's view, nil before the first.
func (l *snapshotList) last() *view {
	if c := l.cur.Load(); c != nil {
		return c.v
	}
	return nil
}

// view returns the current listing, listing again when it is stale. While
// another caller lists, the last listing is returned at once rather than
// making every stat wait for the storage. When listing fails after a first
// success, the last listing is kept (and the error returned alongside it),
// so a storage hiccup does not empty the directories.
func (l *snapshotList) view(ctx context.Context) (*view, error) {
	c := l.cur.Load()
	if c != nil && time.Since(c.at) < l.every {
		return c.v, nil
	}
	if c != nil && !l.refresh.TryLock() {
		return c.v, nil
	}
	if c == nil {
		l.refresh.Lock()
	}
	defer l.refresh.Unlock()
	if c = l.cur.Load(); c != nil && time.Since(c.at) < l.every {
		return c.v, nil
	}
	entries, err := snapshot.List(ctx, l.store)
	if err == nil && c != nil && c.v.hasNew(entries) {
		if err = l.loadIndex(ctx); err != nil {
			err = fmt.Errorf("new snapshots are not shown yet: %w", err)
		}
	}
	if err != nil {
		if c == nil {
			return nil, err
		}
		// Do not retry on every lookup.
		l.cur.Store(&listing{v: c.v, at: time.Now()})
		return c.v, err
	}
	l.store.retain(entries)
	v := buildView(entries)
	l.cur.Store(&listing{v: v, at: time.Now()})
	return v, nil
}

// hasNew reports whether entries hold a snapshot v does not.
func (v *view) hasNew(entries []snapshot.Entry) bool {
	known := make(map[crypto.ID]bool, len(v.all))
	for _, n := range v.all {
		known[n.e.ID] = true
	}
	for _, e := range entries {
		if !known[e.ID] {
			return true
		}
	}
	return false
}

func buildView(entries []snapshot.Entry) *view {
	v := &view{hosts: map[string][]named{}, tags: map[string][]named{}}
	byHost := map[string][]snapshot.Entry{}
	byTag := map[string][]snapshot.Entry{}
	for _, e := range entries {
		h := safeName(e.Snapshot.Host)
		byHost[h] = append(byHost[h], e)
		tags := map[string]bool{}
		for _, t := range e.Snapshot.Tags {
			tags[safeName(t)] = true
		}
		for t := range tags {
			byTag[t] = append(byTag[t], e)
		}
		if e.Snapshot.Time.After(v.latest) {
			v.latest = e.Snapshot.Time
		}
	}
	v.all = nameByTime(entries)
	v.ids = nameByID(entries)
	for h, es := range byHost {
		v.hosts[h] = nameByTime(es)
	}
	for t, es := range byTag {
		v.tags[t] = nameByTime(es)
	}
	return v
}

// nameByTime names entries (in time order) by their time; a snapshot
// whose name an earlier one took gets its short ID appended.
func nameByTime(entries []snapshot.Entry) []named {
	out := make([]named, 0, len(entries))
	taken := map[string]bool{}
	for _, e := range entries {
		name := e.Snapshot.Time.Local().Format(timeName)
		if taken[name] {
			name += "-" + e.ID.Short()
		}
		taken[name] = true
		out = append(out, named{name, e})
	}
	return out
}

// nameByID names entries by short ID, or by full ID where short IDs
// collide.
func nameByID(entries []snapshot.Entry) []named {
	count := map[string]int{}
	for _, e := range entries {
		count[e.ID.Short()]++
	}
	out := make([]named, 0, len(entries))
	for _, e := range entries {
		name := e.ID.Short()
		if count[name] > 1 {
			name = e.ID.String()
		}
		out = append(out, named{name, e})
	}
	return out
}

// safeName makes a host or tag usable as a directory name: no '/' or NUL,
// not empty, "." or "..".
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string][]named) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// snapshotStore is the snapshot.ObjectStore that snapshot.List reads
// through: it keeps the bodies of the snapshots of the last listing
// (content-addressed, so never stale), and tells the repository about a
// damaged snapshot object once, not at every listing.
type snapshotStore struct {
	r Repo

	mu      sync.Mutex
	bodies  map[crypto.ID][]byte
	skipped map[crypto.ID]bool
}

var (
	_ snapshot.ObjectStore = (*snapshotStore)(nil)
	_ snapshot.Skipper     = (*snapshotStore)(nil)
)

func (s *snapshotStore) ListObjects(ctx context.Context, kind string) ([]crypto.ID, error) {
	return s.r.ListObjects(ctx, kind)
}

func (s *snapshotStore) LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error) {
	if kind != snapshot.ObjectKind {
		return s.r.LoadObject(ctx, kind, id)
	}
	s.mu.Lock()
	body, ok := s.bodies[id]
	s.mu.Unlock()
	if ok {
		return body, nil
	}
	body, err := s.r.LoadObject(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.bodies[id] = body
	s.mu.Unlock()
	return body, nil
}

func (s *snapshotStore) SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error) {
	return crypto.ID{}, fmt.Errorf("save %s: %w", kind, errors.ErrUnsupported)
}

func (s *snapshotStore) Damaged(err error) bool { return s.r.Damaged(err) }

func (s *snapshotStore) SkipObject(kind string, id crypto.ID, err error) {
	s.mu.Lock()
	seen := s.skipped[id]
	s.skipped[id] = true
	s.mu.Unlock()
	if !seen {
		s.r.SkipObject(kind, id, err)
	}
}

// retain drops the bodies of snapshots no longer listed (forgotten).
func (s *snapshotStore) retain(entries []snapshot.Entry) {
	keep := make(map[crypto.ID]bool, len(entries))
	for _, e := range entries {
		keep[e.ID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.bodies {
		if !keep[id] {
			delete(s.bodies, id)
		}
	}
}
