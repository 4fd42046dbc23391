package restorer

import (
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
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
