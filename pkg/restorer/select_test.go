package restorer

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/exclude"
)

// selector compiles restore --include and --exclude patterns.
func selector(t *testing.T, include, excl []string) func(string, bool) (bool, bool) {
	t.Helper()
	var inc, exc *exclude.Matcher
	var err error
	if include != nil {
		inc, err = exclude.New(exclude.Options{Patterns: include})
		must(t, err)
	}
	if excl != nil {
		exc, err = exclude.New(exclude.Options{Patterns: excl})
		must(t, err)
	}
	return exclude.Selector(inc, exc)
}

// targetPaths lists what is below root, as snapshot paths.
func targetPaths(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return err
	}))
	slices.Sort(out)
	return out
}

// ancestors lists the directories from the snapshot root down to dir.
func ancestors(dir string) []string {
	var out []string
	for d := dir; d != "/"; d = filepath.Dir(d) {
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// TestRestoreSelect restores the dump fixture through include and exclude
// patterns: only what they select and the directories leading to it are
// restored (those with their metadata), an excluded directory is not
// entered, and a dry run plans and counts exactly what the restore does.
func TestRestoreSelect(t *testing.T) {
	fx := newDumpFixture(t)
	src := fx.src
	var outsideSub []string // below src
	for _, p := range fx.below(src) {
		if p != src+"/sub" && !strings.HasPrefix(p, src+"/sub/") {
			outsideSub = append(outsideSub, strings.TrimPrefix(p, src))
		}
	}
	for _, tc := range []struct {
		name          string
		include, excl []string
		want          []string // below src; src's ancestors are always there
		notAsked      string   // a path Select must not be asked about
	}{
		{"include a name pattern", []string{"*.txt"}, nil,
			[]string{"/sub", "/sub/deeper", "/sub/deeper/note.txt"}, ""},
		{"include a directory", []string{src + "/sub"}, nil,
			[]string{"/sub", "/sub/deeper", "/sub/deeper/note.txt", "/sub/hard2", "/sub/link"}, ""},
		{"include a second hard link alone", []string{"**/hard2"}, nil,
			[]string{"/sub", "/sub/hard2"}, ""},
		{"exclude a directory", nil, []string{src + "/sub"}, outsideSub, src + "/sub/deeper"},
		{"include and exclude", []string{src + "/sub"}, []string{"deeper"},
			[]string{"/sub", "/sub/hard2", "/sub/link"}, src + "/sub/deeper/note.txt"},
		{"include nothing that exists", []string{"*.pdf"}, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			sel := selector(t, tc.include, tc.excl)
			opts := Options{Select: func(p string, isDir bool) (bool, bool) {
				asked = append(asked, p)
				return sel(p, isDir)
			}}
			var want []string
			if tc.want != nil {
				want = ancestors(src)
				for _, w := range tc.want {
					want = append(want, src+w)
				}
			}
			slices.Sort(want)

			// The dry run first: it plans what the restore then does.
			var planned []string
			opts.Target, opts.DryRun = filepath.Join(t.TempDir(), "t"), true
			opts.Planned = func(p Planned) { planned = append(planned, strings.TrimPrefix(p.Path, opts.Target)) }
			dry, warnings, err := restoreDump(t, fx, opts)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("dry run: %v %q", err, warnings)
			}
			slices.Sort(planned)
			if !slices.Equal(planned, want) {
				t.Errorf("dry run planned\n%q\nwant\n%q", planned, want)
			}

			opts.DryRun, opts.Planned = false, nil
			res, warnings, err := restoreDump(t, fx, opts)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("restore: %v %q", err, warnings)
			}
			if got := targetPaths(t, opts.Target); !slices.Equal(got, want) {
				t.Errorf("restored\n%q\nwant\n%q", got, want)
			}
			if res.Files+res.Dirs != uint64(len(want)) || *dry != *res {
				t.Errorf("result %+v, dry run %+v; want %d entries in both", *res, *dry, len(want))
			}
			if tc.notAsked != "" && slices.Contains(asked, tc.notAsked) {
				t.Errorf("Select was asked about %s, below an excluded directory", tc.notAsked)
			}
			for _, dir := range ancestors(src + "/sub/deeper") {
				fi, err := os.Stat(opts.Target + dir)
				if err != nil {
					continue // not restored in this case
				}
				n := fx.nodes[dir]
				if fi.Mode().Perm() != n.FileMode().Perm() || !fi.ModTime().Equal(time.Unix(0, n.MTime)) {
					t.Errorf("%s: mode %v mtime %v, want the snapshot's %v %v", dir, fi.Mode(), fi.ModTime(), n.FileMode(), time.Unix(0, n.MTime))
				}
			}
			if slices.Contains(want, src+"/sub/hard2") {
				if got := readFile(t, opts.Target+src+"/sub/hard2"); string(got) != "linked content\n" {
					t.Errorf("hard2 holds %q", got)
				}
			}
		})
	}

	_, _, err := restoreDump(t, fx, Options{Target: t.TempDir(), Delete: true, Select: selector(t, []string{"*.txt"}, nil)})
	if err == nil || !strings.Contains(err.Error(), "--delete") {
		t.Errorf("Delete with Select: %v", err)
	}
}

// restoreDump restores the dump fixture's snapshot, collecting warnings.
func restoreDump(t *testing.T, fx *dumpFixture, opts Options) (*Result, []string, error) {
	t.Helper()
	var warnings []string
	opts.Warn = func(p string, err error) { warnings = append(warnings, p+": "+err.Error()) }
	res, err := Restore(context.Background(), openRepo(t, fx.fault), fx.snap, opts)
	return res, warnings, err
}
