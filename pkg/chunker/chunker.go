// Package chunker splits file content into chunks at content-defined
// boundaries, so that an insertion early in a file moves only nearby chunk
// boundaries and the rest of the file still deduplicates.
//
// It wraps keyed FastCDC from github.com/PlakarKorp/go-cdc-chunkers: the gear
// table is derived from the repository's chunker key, so chunk boundaries
// (and hence stored blob sizes) do not reveal which known file was stored.
// FORMAT.md section 5 specifies the algorithm in full (gear table
// derivation, masks, cut rule) and the tests in spec_test.go check it with
// an independent implementation against testdata/vectors.json, so a
// library upgrade that moved a boundary would fail them.
//
// jotfs/fastcdc-go was rejected: it XORs its seed into a package-level table
// on every NewChunker, a data race that also makes successive seeded chunkers
// disagree, which breaks deduplication.
package chunker

import (
	"errors"
	"fmt"
	"io"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers fastcdc-v1.0.0 (the library's own registry)
)

// Algorithm is the name recorded in the repository config.
const Algorithm = "fastcdc-v1.0.0-keyed"

// libraryAlgorithm is the go-cdc-chunkers algorithm implementing Algorithm.
const libraryAlgorithm = "fastcdc-v1.0.0"

// Params are the chunk size bounds from the repository config.
type Params struct {
	Algorithm string `json:"algorithm"`
	MinSize   int    `json:"min_size"`
	AvgSize   int    `json:"avg_size"`
	MaxSize   int    `json:"max_size"`
}

// DefaultParams are 512 KiB / 1 MiB / 8 MiB: large enough that the index
// stays small (a million blobs per TiB), small enough to deduplicate edits.
func DefaultParams() Params {
	return Params{Algorithm: Algorithm, MinSize: 512 << 10, AvgSize: 1 << 20, MaxSize: 8 << 20}
}

// Chunker splits one stream at a time; Reset reuses its buffer for the next
// file. It is not safe for concurrent use: make one per worker.
type Chunker struct {
	c *cdc.Chunker
}

// New returns a chunker for params keyed with key. buf, if not nil, is used
// as the scan buffer and must be at least params.MaxSize bytes.
func New(params Params, key []byte, buf []byte) (*Chunker, error) {
	if params.Algorithm != Algorithm {
		return nil, fmt.Errorf("unsupported chunker %q (this cairn knows %q)", params.Algorithm, Algorithm)
	}
	opts := &cdc.ChunkerOpts{MinSize: params.MinSize, NormalSize: params.AvgSize, MaxSize: params.MaxSize, Key: append([]byte(nil), key...)}
	var (
		c   *cdc.Chunker
		err error
	)
	if buf == nil {
		c, err = cdc.NewChunker(libraryAlgorithm, eofReader{}, opts)
	} else {
		c, err = cdc.NewChunkerBuffer(libraryAlgorithm, eofReader{}, opts, buf)
	}
	if err != nil {
		return nil, fmt.Errorf("chunker %d/%d/%d: %w", params.MinSize, params.AvgSize, params.MaxSize, err)
	}
	return &Chunker{c: c}, nil
}

// MaxChunkSize bounds Params.MaxSize: a chunk is one blob, and no blob's
// plaintext may exceed 256 MiB (FORMAT.md section 15).
const MaxChunkSize = 256 << 20

// Check reports whether New accepts params and their chunks fit in a blob,
// without allocating a scan buffer (8 MiB or more) only to throw it away.
func Check(params Params) error {
	if params.Algorithm != Algorithm {
		return fmt.Errorf("unsupported chunker %q (this cairn knows %q)", params.Algorithm, Algorithm)
	}
	if params.MaxSize > MaxChunkSize {
		return fmt.Errorf("chunker max_size %d exceeds %d, the largest blob; choose a smaller maximum chunk size", params.MaxSize, MaxChunkSize)
	}
	opts := &cdc.ChunkerOpts{MinSize: params.MinSize, NormalSize: params.AvgSize, MaxSize: params.MaxSize, Key: make([]byte, 32)}
	// The library validates the options before it looks at the buffer,
	// so an empty buffer tells valid parameters by this error.
	_, err := cdc.NewChunkerBuffer(libraryAlgorithm, eofReader{}, opts, nil)
	if err == nil || errors.Is(err, cdc.ErrBufferTooSmall) {
		return nil
	}
	return fmt.Errorf("chunker %d/%d/%d: %w", params.MinSize, params.AvgSize, params.MaxSize, err)
}

// Reset starts splitting r.
func (c *Chunker) Reset(r io.Reader) { c.c.Reset(r) }

// Next returns the next chunk, or io.EOF after the last one. The chunk
// aliases the chunker's buffer and is valid only until the next call.
// An empty stream yields io.EOF at once.
func (c *Chunker) Next() ([]byte, error) {
	chunk, err := c.c.Next()
	if len(chunk) > 0 {
		if err == io.EOF {
			// The library returns the final chunk together with io.EOF;
			// report it now and io.EOF on the next call.
			c.c.Reset(eofReader{})
		}
		return chunk, nil
	}
	if err == nil {
		err = io.EOF
	}
	return nil, err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
