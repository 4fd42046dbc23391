package restorer

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// forgedRepo is a repository whose index reports plaintext lengths
// rewritten by plain: an index written by an attacker, or a 1.0 index
// (plain returns 0).
type forgedRepo struct {
	*repo.Repository
	plain func(e index.Entry) uint32
}

func (f *forgedRepo) Index() repo.IndexReader {
	return forgedIndex{IndexReader: f.Repository.Index(), plain: f.plain}
}

type forgedIndex struct {
	repo.IndexReader
	plain func(e index.Entry) uint32
}

func (x forgedIndex) Lookup(id crypto.ID) (index.Entry, bool) {
	e, ok := x.IndexReader.Lookup(id)
	if ok {
		e.PlainLen = x.plain(e)
	}
	return e, ok
}

func (x forgedIndex) LookupAll(id crypto.ID) []index.Entry {
	es := x.IndexReader.LookupAll(id)
	for i := range es {
		es[i].PlainLen = x.plain(es[i])
	}
	return es
}

// withoutLengths makes r look like a 1.0 repository: no recorded lengths.
func withoutLengths(r *repo.Repository) Repo {
	return &forgedRepo{Repository: r, plain: func(index.Entry) uint32 { return 0 }}
}

// TestRestoreForgedLengths restores from an index whose plaintext lengths
// for one multi-blob file are false: not adding up to the file's size, or
// adding up but two of them swapped. Either way that file is reported
// (naming the pack and blob where a blob contradicts its length), is not
// left in the target, the other files are restored exactly, and the
// restore fails.
func TestRestoreForgedLengths(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	bigPath := fx.src.root + "/" + bigName
	node, err := snapshot.FindPath(context.Background(), r, fx.snap.Tree, bigPath)
	if err != nil {
		t.Fatal(err)
	}
	var a, b index.Entry
	for i := 1; i < len(node.Content); i++ {
		a, _ = r.Index().Lookup(node.Content[i-1])
		b, _ = r.Index().Lookup(node.Content[i])
		if a.PlainLen != b.PlainLen {
			break
		}
	}
	if a.PlainLen == 0 || a.PlainLen == b.PlainLen {
		t.Fatalf("%s: no two neighbouring blobs of different recorded lengths", bigName)
	}
	inFile := make(map[crypto.ID]bool)
	for _, id := range node.Content {
		inFile[id] = true
	}
	for _, tc := range []struct {
		name  string
		plain func(e index.Entry) uint32
		want  string
	}{
		{"sum differs", func(e index.Entry) uint32 {
			if inFile[e.ID] {
				return e.PlainLen + 1
			}
			return e.PlainLen
		}, "add up to"},
		{"swapped, same sum", func(e index.Entry) uint32 {
			switch e.ID {
			case a.ID:
				return b.PlainLen
			case b.ID:
				return a.PlainLen
			}
			return e.PlainLen
		}, repo.PackName(a.Pack)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx.wrap = func(r *repo.Repository) Repo { return &forgedRepo{Repository: r, plain: tc.plain} }
			defer func() { fx.wrap = nil }()
			target := t.TempDir()
			res, warnings, err := fx.restoreTo(t, Options{Target: target}, nil)
			if err == nil {
				t.Fatal("restore with a forged index succeeded")
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], bigName) || !strings.Contains(warnings[0], tc.want) {
				t.Fatalf("warnings %q, want one naming %s and %q", warnings, bigName, tc.want)
			}
			if res.Errors != 1 {
				t.Errorf("%d errors, want 1", res.Errors)
			}
			if _, err := os.Lstat(target + bigPath); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s is in the target (%v); a file restored from false lengths must not be", bigName, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(target+fx.src.root, ".cairn-restore-*")); len(leftovers) > 0 {
				t.Errorf("temporary files left: %q", leftovers)
			}
			for _, name := range []string{"random.bin", repeatedName, "compress.txt", "nested/a/b/c/deep.txt"} {
				compareEntry(t, name, fx.src.root+"/"+name, target+fx.src.root+"/"+name)
			}
		})
	}
}
