package exclude

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatchPath(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		path     string
		isDir    bool
		want     bool
	}{
		{"basename anywhere", []string{"*.tmp"}, "/home/a/x.tmp", false, true},
		{"basename no match", []string{"*.tmp"}, "/home/a/x.tmpl", false, false},
		{"star does not cross slash", []string{"/home/*.txt"}, "/home/a/b.txt", false, false},
		{"star in anchored", []string{"/home/*/b.txt"}, "/home/a/b.txt", false, true},
		{"dir name excludes contents", []string{"node_modules"}, "/p/node_modules/x/y.js", false, true},
		{"double star prefix", []string{"**/node_modules"}, "/p/q/node_modules", true, true},
		{"double star middle", []string{"/home/**/.cache"}, "/home/a/b/c/.cache", true, true},
		{"double star middle zero dirs", []string{"/home/**/.cache"}, "/home/.cache", true, true},
		{"double star middle elsewhere", []string{"/home/**/.cache"}, "/var/.cache", true, false},
		{"double star suffix", []string{"/tmp/**"}, "/tmp/a/b", false, true},
		{"double star suffix not the dir itself", []string{"/tmp/**"}, "/tmp", true, false},
		{"anchored matches only at root", []string{"/var/tmp"}, "/var/tmp", true, true},
		{"anchored not deeper", []string{"/var/tmp"}, "/x/var/tmp", true, false},
		{"floating multi-component", []string{"src/gen"}, "/a/src/gen/x.go", false, true},
		{"floating multi-component needs both", []string{"src/gen"}, "/a/gen/x.go", false, false},
		{"trailing slash dir only", []string{"build/"}, "/p/build", true, true},
		{"trailing slash not a file", []string{"build/"}, "/p/build", false, false},
		{"trailing slash contents", []string{"build/"}, "/p/build/out.o", false, true},
		{"negation re-includes", []string{"*.log", "!keep.log"}, "/p/keep.log", false, false},
		{"negation other still excluded", []string{"*.log", "!keep.log"}, "/p/drop.log", false, true},
		{"last match wins", []string{"!keep.log", "*.log"}, "/p/keep.log", false, true},
		{"negation cannot rescue inside excluded dir", []string{"/p/cache", "!/p/cache/keep"}, "/p/cache/keep", false, true},
		{"negation of dir content via double star", []string{"/p/cache/**", "!/p/cache/keep"}, "/p/cache/keep", false, false},
		{"character class", []string{"file[0-9].txt"}, "/d/file7.txt", false, true},
		{"character class no match", []string{"file[0-9].txt"}, "/d/fileX.txt", false, false},
		{"question mark", []string{"?.c"}, "/d/a.c", false, true},
		{"escaped bang literal", []string{`\!important`}, "/d/!important", false, true},
		{"escaped star literal", []string{`\*`}, "/d/*", false, true},
		{"escaped star not wildcard", []string{`\*`}, "/d/a", false, false},
		{"relative path", []string{"*.o"}, "obj/a.o", false, true},
		{"no patterns", nil, "/anything", false, false},
		{"root path itself", []string{"*"}, "/", true, false},
		{"star matches all", []string{"*"}, "/a", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(Options{Patterns: tc.patterns})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.MatchPath(tc.path, tc.isDir); got != tc.want {
				t.Errorf("patterns %q, MatchPath(%q, dir=%v) = %v, want %v", tc.patterns, tc.path, tc.isDir, got, tc.want)
			}
			if got := m.Excluded(tc.path, tc.isDir, nil); got != tc.want {
				t.Errorf("Excluded = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBadPatterns(t *testing.T) {
	for _, p := range []string{"[", "a/[b", "/", "!", "a/../b", "!/"} {
		if _, err := New(Options{Patterns: []string{p}}); err == nil {
			t.Errorf("New(%q) accepted a bad pattern", p)
		} else if !strings.Contains(err.Error(), "exclude pattern") {
			t.Errorf("New(%q) error %q does not name the pattern", p, err)
		}
	}
}

func TestReadPatterns(t *testing.T) {
	in := "# comment\n\n*.tmp  \n\\#hash\n!keep\n   \r\n/abs/dir/\n"
	got, err := ReadPatterns(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"*.tmp", `\#hash`, "!keep", "/abs/dir/"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ReadPatterns = %q, want %q", got, want)
	}
	m, err := New(Options{Patterns: got})
	if err != nil {
		t.Fatal(err)
	}
	if !m.MatchPath("/x/#hash", false) {
		t.Errorf(`"\#hash" should match a file named "#hash"`)
	}
	if _, err := ReadPatternFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("ReadPatternFile of a missing file: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"0", 0, false},
		{"500", 500, false},
		{"500b", 500, false},
		{"100k", 100 << 10, false},
		{"100K", 100 << 10, false},
		{"100KiB", 100 << 10, false},
		{"1.5M", 3 << 19, false},
		{"2 GB", 2 << 30, false},
		{"1t", 1 << 40, false},
		{"", 0, true},
		{"M", 0, true},
		{"-1", 0, true},
		{"1e3", 0, true},
		{"ten", 0, true},
		{"5X", 0, true},
		{"99999999999T", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFileSystemRules(t *testing.T) {
	root := t.TempDir()
	mk := func(rel, content string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk("marked/.nobackup", "")
	mk("cache/"+CacheDirTag, CacheDirSignature+"\n# a cache\n")
	mk("fakecache/"+CacheDirTag, "Signature: not the right one")
	mk("shorttag/"+CacheDirTag, "Signature")
	mk("plain/big", strings.Repeat("x", 2048))
	mk("plain/small", "x")
	if err := os.Mkdir(filepath.Join(root, "symtag"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "cache", CacheDirTag), filepath.Join(root, "symtag", CacheDirTag)); err != nil {
		t.Fatal(err)
	}

	m, err := New(Options{IfPresent: []string{".nobackup"}, Caches: true, LargerThan: 1024, OneFileSystem: true, Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel  string
		want bool
	}{
		{"marked", true},
		{"cache", true},
		{"fakecache", false},
		{"shorttag", false},
		{"symtag", false},
		{"plain", false},
		{"plain/big", true},
		{"plain/small", false},
	}
	for _, tc := range tests {
		p := filepath.Join(root, tc.rel)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Excluded(p, fi.IsDir(), fi); got != tc.want {
			t.Errorf("Excluded(%s) = %v, want %v", tc.rel, got, tc.want)
		}
	}
}

func TestOneFileSystem(t *testing.T) {
	// /proc is its own file system on Linux; skip where it is not.
	procInfo, err := os.Lstat("/proc/self")
	if err != nil {
		t.Skip("no /proc here")
	}
	rootInfo, err := os.Stat("/")
	if err != nil {
		t.Fatal(err)
	}
	if d1, _ := device(procInfo); func() bool { d2, _ := device(rootInfo); return d1 == d2 }() {
		t.Skip("/proc is on the root file system here")
	}
	m, err := New(Options{OneFileSystem: true, Roots: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Excluded("/proc/self", false, procInfo) {
		t.Errorf("/proc/self should be excluded with one-file-system and root /")
	}
	if m.Excluded("/", true, rootInfo) {
		t.Errorf("the root itself must not be excluded")
	}
	// A root on /proc itself keeps its own file system.
	m, err = New(Options{OneFileSystem: true, Roots: []string{"/", "/proc"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Excluded("/proc/self", false, procInfo) {
		t.Errorf("/proc/self is under the root /proc and on its file system")
	}
}

func TestOptionErrors(t *testing.T) {
	for _, opts := range []Options{
		{IfPresent: []string{"a/b"}},
		{IfPresent: []string{""}},
		{LargerThan: -1},
		{OneFileSystem: true},
		{OneFileSystem: true, Roots: []string{"/nonexistent/cairn/root"}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) accepted bad options", opts)
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		path, root string
		want       bool
	}{
		{"/a/b", "/a", true},
		{"/a", "/a", true},
		{"/ab", "/a", false},
		{"/x", "/", true},
		{"/a", "/a/b", false},
	}
	for _, tc := range tests {
		if got := within(tc.path, tc.root); got != tc.want {
			t.Errorf("within(%q, %q) = %v", tc.path, tc.root, got)
		}
	}
}

// --iexclude patterns ignore case in both the pattern and the path; plain
// patterns keep matching case exactly; the last matching pattern decides
// across both kinds.
func TestCaseInsensitivePatterns(t *testing.T) {
	m, err := New(Options{Patterns: []string{"*.tmp", "!keep.TMP"}, IPatterns: []string{"*.JPG", "/home/*/CACHE/"}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/home/a/x.jpg":        true,
		"/home/a/x.JpG":        true,
		"/home/a/x.png":        false,
		"/home/a/cache/f":      true,
		"/home/a/Cache/f":      true,
		"/home/a/x.tmp":        true,
		"/home/a/x.TMP":        false, // plain patterns keep case
		"/home/a/keep.TMP":     false,
		"/home/a/deep/cache/f": false, // anchored: /home/*/cache only
	} {
		if got := m.MatchPath(path, false); got != want {
			t.Errorf("MatchPath(%q) = %v, want %v", path, got, want)
		}
	}
	if _, err := New(Options{IPatterns: []string{"/"}}); err == nil {
		t.Error("an empty case-insensitive pattern was accepted")
	}
}

func TestMayMatchBelow(t *testing.T) {
	tests := []struct {
		patterns, ipatterns []string
		dir                 string
		want                bool
	}{
		{[]string{"/home/alice/docs"}, nil, "/", true},
		{[]string{"/home/alice/docs"}, nil, "/home", true},
		{[]string{"/home/alice/docs"}, nil, "/home/alice/docs", true}, // matched itself
		{[]string{"/home/alice/docs"}, nil, "/home/alice/docs/x", true},
		{[]string{"/home/alice/docs"}, nil, "/home/bob", false},
		{[]string{"/home/alice/docs"}, nil, "/etc", false},
		{[]string{"/home/*/docs"}, nil, "/home/bob", true},
		{[]string{"/home/*/docs"}, nil, "/home/bob/music", false},
		{[]string{"*.txt"}, nil, "/any/where", true}, // floating
		{[]string{"/srv/**/*.log"}, nil, "/srv/a/b", true},
		{[]string{"/srv/**/*.log"}, nil, "/var", false},
		{[]string{"!/etc"}, nil, "/etc", false}, // negations never match
		{nil, []string{"/HOME/Alice"}, "/home/alice", true},
		{nil, []string{"/HOME/Alice"}, "/home/bob", false},
		{[]string{"/HOME/Alice"}, nil, "/home/alice", false},
		{nil, nil, "/", false},
	}
	for _, tc := range tests {
		m, err := New(Options{Patterns: tc.patterns, IPatterns: tc.ipatterns})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.MayMatchBelow(tc.dir); got != tc.want {
			t.Errorf("%q %q below %s: %v, want %v", tc.patterns, tc.ipatterns, tc.dir, got, tc.want)
		}
	}
}

func TestSelector(t *testing.T) {
	inc, err := New(Options{Patterns: []string{"*.txt", "/srv/www"}})
	if err != nil {
		t.Fatal(err)
	}
	exc, err := New(Options{Patterns: []string{"/srv/www/cache", "tmp/"}})
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ selected, descend bool }
	for _, tc := range []struct {
		inc, exc *Matcher
		path     string
		isDir    bool
		want     result
	}{
		{nil, nil, "/a", true, result{true, true}},
		{nil, nil, "/a/f", false, result{true, false}},
		{nil, exc, "/p/tmp", true, result{false, false}},
		{nil, exc, "/p/tmp", false, result{true, false}}, // tmp/ is for directories
		{inc, nil, "/a/b", true, result{false, true}},    // *.txt may be below
		{inc, nil, "/a/b/x.txt", false, result{true, false}},
		{inc, nil, "/a/b/x.pdf", false, result{false, false}},
		{inc, nil, "/srv/www", true, result{true, true}},
		{inc, nil, "/srv/www/index.html", false, result{true, false}},
		{inc, exc, "/srv/www/cache", true, result{false, false}},
		{inc, exc, "/srv/www/cache/x.txt", false, result{false, false}},
		{inc, exc, "/srv/www/logo.png", false, result{true, false}},
	} {
		s, d := Selector(tc.inc, tc.exc)(tc.path, tc.isDir)
		if (result{s, d}) != tc.want {
			t.Errorf("%s (dir %v): %v %v, want %+v", tc.path, tc.isDir, s, d, tc.want)
		}
	}
}
