package diff

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Match is an entry Find found.
type Match struct {
	Snapshot crypto.ID
	Time     time.Time // the snapshot's time
	Path     string    // absolute within the snapshot
	Type     snapshot.NodeType
	Size     uint64 // files only
	MTime    time.Time
}

// Find calls fn for every entry of snaps whose base name (pattern without
// '/') or full path (pattern with '/') matches pattern, with path.Match
// semantics; see the package documentation. Snapshots are searched in the
// order given, each in depth-first path order. A malformed pattern gives
// path.ErrBadPattern before anything is read. An error from fn stops the
// search and is returned as is.
func Find(ctx context.Context, r Repo, snaps []snapshot.Entry, pattern string, fn func(Match) error) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("find %q: %w", pattern, err)
	}
	f := &finder{pattern: pattern, memo: make(map[string][]found)}
	if strings.Contains(pattern, "/") {
		if !strings.HasPrefix(pattern, "/") {
			f.pattern = "/" + pattern
		}
		f.components = strings.Split(f.pattern, "/")[1:]
		f.prune = !strings.Contains(pattern, `\`)
	}
	p := snapshot.NewPrefetcher(ctx, r, snapshot.PrefetchOptions{Concurrency: connections(r), Want: f.enters})
	defer p.Close()
	f.r = p
	for _, e := range snaps {
		emit := func(m found) error {
			return fn(Match{Snapshot: e.ID, Time: e.Snapshot.Time, Path: m.path, Type: m.typ, Size: m.size, MTime: m.mtime})
		}
		var err error
		if f.components != nil {
			err = f.fullPath(ctx, e.Snapshot.Tree, emit)
		} else {
			var all []found
			all, err = f.baseName(ctx, e.Snapshot.Tree)
			for _, m := range all {
				if err != nil {
					break
				}
				m.path = "/" + m.path
				err = emit(m)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// found is a match relative to the directory where it was searched.
type found struct {
	path  string
	typ   snapshot.NodeType
	size  uint64
	mtime time.Time
}

type finder struct {
	r          Repo
	pattern    string
	components []string // of a full-path pattern, without the leading ""
	prune      bool     // whether components may be matched one by one
	memo       map[string][]found
}

func newFound(p string, n *snapshot.Node) found {
	return found{path: p, typ: n.Type, size: fileSize(n), mtime: time.Unix(0, n.MTime).UTC()}
}

// baseName returns the matches below the directory made of runs, with
// paths relative to it. Results are memoized by directory content.
func (f *finder) baseName(ctx context.Context, runs []crypto.ID) ([]found, error) {
	key := dirKey(runs)
	if out, ok := f.memo[key]; ok {
		return out, nil
	}
	var out []found
	err := snapshot.WalkDir(ctx, f.r, runs, func(n *snapshot.Node) error {
		name := string(n.Name)
		if ok, _ := path.Match(f.pattern, name); ok {
			out = append(out, newFound(name, n))
		}
		if n.Type != snapshot.NodeDir {
			return nil
		}
		sub, err := f.baseName(ctx, n.Subtree)
		for _, m := range sub {
			m.path = name + "/" + m.path
			out = append(out, m)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	f.memo[key] = out
	return out, nil
}

// fullPath walks one snapshot, matching full paths and skipping
// directories that cannot lead to a match.
func (f *finder) fullPath(ctx context.Context, root []crypto.ID, emit func(found) error) error {
	return snapshot.Walk(ctx, f.r, root, func(p []byte, n *snapshot.Node) error {
		full := string(p)
		if ok, _ := path.Match(f.pattern, full); ok {
			if err := emit(newFound(full, n)); err != nil {
				return err
			}
		}
		if n.Type == snapshot.NodeDir && f.prune && !f.mayContain(full) {
			return snapshot.SkipDir
		}
		return nil
	})
}

// enters reports whether the search will enter directory n of dir, so
// that its trees are worth loading ahead: not when a base-name search has
// its results already, nor when a full-path search prunes it. It is
// called from the walk's goroutine, like everything that touches memo.
func (f *finder) enters(dir []byte, n *snapshot.Node) bool {
	if f.components == nil {
		_, known := f.memo[dirKey(n.Subtree)]
		return !known
	}
	return !f.prune || f.mayContain(string(dir)+"/"+string(n.Name))
}

// mayContain reports whether entries below directory dir can match: the
// pattern must have more components than dir, and dir's components must
// match the pattern's first ones ('*' never crosses a '/').
func (f *finder) mayContain(dir string) bool {
	parts := strings.Split(dir, "/")[1:]
	if len(parts) >= len(f.components) {
		return false
	}
	for i, part := range parts {
		if ok, _ := path.Match(f.components[i], part); !ok {
			return false
		}
	}
	return true
}

func dirKey(runs []crypto.ID) string {
	var b strings.Builder
	for _, id := range runs {
		b.Write(id[:])
	}
	return b.String()
}
