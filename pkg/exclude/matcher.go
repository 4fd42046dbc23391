package exclude

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Options configure a Matcher. The zero value excludes nothing.
type Options struct {
	// Patterns are gitignore-style patterns (see the package doc), in
	// order: the last one that matches a path decides.
	Patterns []string
	// IPatterns are patterns like Patterns that ignore case (restic's
	// --iexclude); they come after Patterns in the last-match order.
	IPatterns []string
	// IfPresent names marker files: a directory holding one of them is
	// excluded, with everything in it.
	IfPresent []string
	// Caches excludes directories that hold a CACHEDIR.TAG file with the
	// standard signature (https://bford.info/cachedir/).
	Caches bool
	// LargerThan excludes files (not directories) of more than this many
	// bytes; 0 means no limit.
	LargerThan int64
	// OneFileSystem excludes everything on another file system than the
	// backup root it is under. Roots must then list the backup paths.
	OneFileSystem bool
	// Roots are the backup paths, as the archiver will report them.
	Roots []string
}

// CacheDirTag is the name of the file that marks a cache directory, and
// CacheDirSignature the bytes it must start with.
const (
	CacheDirTag       = "CACHEDIR.TAG"
	CacheDirSignature = "Signature: 8a477f597d28d172789f06886806bc55"
)

// Matcher decides which paths a backup leaves out. It is safe for
// concurrent use: it holds no mutable state.
type Matcher struct {
	patterns   []pattern
	fold       bool // some pattern ignores case
	ifPresent  []string
	caches     bool
	largerThan int64
	// roots and rootDevices are the backup roots (cleaned, longest first)
	// and the device each lives on, for OneFileSystem.
	roots       []string
	rootDevices []uint64
}

// New compiles opts. Bad patterns, negative sizes, marker names that are
// paths, and unreadable roots (with OneFileSystem) are errors.
func New(opts Options) (*Matcher, error) {
	m := &Matcher{caches: opts.Caches, largerThan: opts.LargerThan}
	for _, s := range opts.Patterns {
		p, err := compilePattern(s)
		if err != nil {
			return nil, err
		}
		m.patterns = append(m.patterns, p)
	}
	for _, s := range opts.IPatterns {
		p, err := compilePattern(strings.ToLower(s))
		if err != nil {
			return nil, err
		}
		p.source, p.fold, m.fold = s, true, true
		m.patterns = append(m.patterns, p)
	}
	for _, name := range opts.IfPresent {
		if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
			return nil, fmt.Errorf("exclude-if-present %q: give a file name, not a path", name)
		}
		m.ifPresent = append(m.ifPresent, name)
	}
	if opts.LargerThan < 0 {
		return nil, fmt.Errorf("exclude-larger-than %d: must not be negative", opts.LargerThan)
	}
	if opts.OneFileSystem {
		if err := m.addRoots(opts.Roots); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// addRoots records the device of every root, longest path first so that
// the innermost root containing a path is found first.
func (m *Matcher) addRoots(roots []string) error {
	if len(roots) == 0 {
		return fmt.Errorf("one-file-system: no backup paths given")
	}
	for _, r := range roots {
		fi, err := os.Stat(r)
		if err != nil {
			return fmt.Errorf("one-file-system: %w", err)
		}
		dev, ok := device(fi)
		if !ok {
			return fmt.Errorf("one-file-system: the device of %s is not available on this platform", r)
		}
		m.roots = append(m.roots, filepath.Clean(r))
		m.rootDevices = append(m.rootDevices, dev)
	}
	// Insertion sort by descending length: there are few roots.
	for i := 1; i < len(m.roots); i++ {
		for j := i; j > 0 && len(m.roots[j]) > len(m.roots[j-1]); j-- {
			m.roots[j], m.roots[j-1] = m.roots[j-1], m.roots[j]
			m.rootDevices[j], m.rootDevices[j-1] = m.rootDevices[j-1], m.rootDevices[j]
		}
	}
	return nil
}

// Excluded reports whether the archiver should leave path out. isDir says
// whether path is a directory; fi is its lstat result and may be nil, in
// which case the size and file-system rules are not applied. A directory
// that is excluded is not descended into.
func (m *Matcher) Excluded(path string, isDir bool, fi fs.FileInfo) bool {
	if m.MatchPath(path, isDir) {
		return true
	}
	if fi != nil {
		if m.largerThan > 0 && !isDir && fi.Size() > m.largerThan {
			return true
		}
		if len(m.roots) > 0 && m.otherFileSystem(path, fi) {
			return true
		}
	}
	if isDir && (len(m.ifPresent) > 0 || m.caches) {
		return m.markedDir(path)
	}
	return false
}

// MatchPath reports whether the patterns alone exclude path: the last
// pattern matching it decides, and a path below an excluded directory is
// excluded too (as in Git).
func (m *Matcher) MatchPath(path string, isDir bool) bool {
	if len(m.patterns) == 0 {
		return false
	}
	comps := splitPath(path)
	var lower []string // for the patterns that ignore case
	if m.fold {
		lower = make([]string, len(comps))
		for i, c := range comps {
			lower[i] = strings.ToLower(c)
		}
	}
	for n := 1; n <= len(comps); n++ {
		levelIsDir := n < len(comps) || isDir
		var low []string
		if m.fold {
			low = lower[:n]
		}
		if m.decide(comps[:n], low, levelIsDir) {
			return true
		}
	}
	return false
}

// MayMatchBelow reports whether MatchPath could be true for some path
// below the directory dir: restore --include enters only such directories.
// It errs towards true: a "**" or the end of a pattern reached on the way
// (dir itself or a parent matched) says yes, only a component that a
// pattern's component does not match says no. Negating patterns are not
// consulted, as they never make a path match.
func (m *Matcher) MayMatchBelow(dir string) bool {
	comps := splitPath(dir)
	var lower []string
	for i := range m.patterns {
		p := &m.patterns[i]
		if p.negate {
			continue
		}
		c := comps
		if p.fold {
			if lower == nil {
				lower = make([]string, len(comps))
				for k, comp := range comps {
					lower[k] = strings.ToLower(comp)
				}
			}
			c = lower
		}
		if mayMatchPrefix(p.segments, c) {
			return true
		}
	}
	return false
}

// decide applies the patterns to one path, last match winning; lower is
// the path in lower case, for the patterns that ignore case.
func (m *Matcher) decide(comps, lower []string, isDir bool) bool {
	for i := len(m.patterns) - 1; i >= 0; i-- {
		p := &m.patterns[i]
		c := comps
		if p.fold {
			c = lower
		}
		if p.match(c, isDir) {
			return !p.negate
		}
	}
	return false
}

// otherFileSystem reports whether fi lives on another device than the
// innermost backup root containing path. Paths under no root (which the
// archiver does not produce) are left alone.
func (m *Matcher) otherFileSystem(path string, fi fs.FileInfo) bool {
	dev, ok := device(fi)
	if !ok {
		return false
	}
	path = filepath.Clean(path)
	for i, root := range m.roots {
		if within(path, root) {
			return dev != m.rootDevices[i]
		}
	}
	return false
}

// within reports whether path is root or below it.
func within(path, root string) bool {
	if path == root {
		return true
	}
	if !strings.HasPrefix(path, root) {
		return false
	}
	return strings.HasSuffix(root, string(filepath.Separator)) || path[len(root)] == filepath.Separator
}

// markedDir reports whether the directory holds a marker file or a valid
// CACHEDIR.TAG. A marker that cannot be read counts as absent: the worst
// case is backing up a directory the user wanted left out, never losing
// one they wanted kept.
func (m *Matcher) markedDir(dir string) bool {
	for _, name := range m.ifPresent {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return m.caches && hasCacheDirTag(dir)
}

// hasCacheDirTag checks dir/CACHEDIR.TAG for the signature. The tag must be
// a regular file, as the specification says.
func hasCacheDirTag(dir string) bool {
	name := filepath.Join(dir, CacheDirTag)
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(CacheDirSignature))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return bytes.Equal(buf, []byte(CacheDirSignature))
}
