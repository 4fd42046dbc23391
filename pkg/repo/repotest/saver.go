package repotest

import (
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// StoreFilesWith is StoreFiles through a Saver the caller owns (a write
// session's), which it does not flush.
func (f *Fixture) StoreFilesWith(saver *repo.Saver, files map[string][]byte) []crypto.ID {
	f.T.Helper()
	root := newDir()
	for p, data := range files {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		d := root
		for _, name := range parts[:len(parts)-1] {
			if d.dirs[name] == nil {
				d.dirs[name] = newDir()
			}
			d = d.dirs[name]
		}
		d.files[parts[len(parts)-1]] = data
	}
	tree, err := writeDir(f.Ctx, saver, root)
	if err != nil {
		f.T.Fatal(err)
	}
	return tree
}
