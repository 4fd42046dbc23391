//go:build linux

package index

import (
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// BenchmarkRSSMmap keeps the evidence for reading cache files with pread:
// it maps a cached 1.5M-entry body, as the first design did, makes the same
// lookups as BenchmarkRSSAfterLookups and reports the RSS they add per
// indexed entry. How much one fault maps is the kernel's choice; on Linux
// 6.18 with ext4 large folios it was a whole 2 MiB folio, and 20 lookups
// cost about 23 bytes per entry.
func BenchmarkRSSMmap(b *testing.B) {
	for _, lookups := range []int{20, 200} {
		b.Run(strconv.Itoa(lookups), func(b *testing.B) {
			var rss int64
			for b.Loop() {
				rss = mappedLookupRSS(b, benchEntries, lookups)
			}
			b.ReportMetric(float64(rss)/benchEntries, "rssB/entry")
		})
	}
}

func mappedLookupRSS(b *testing.B, n, lookups int) int64 {
	c, err := OpenCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body, _ := syntheticBody(n, 7)
	name := crypto.Hash(body[:4096])
	if err := c.Store(name, body); err != nil {
		b.Fatal(err)
	}
	size := len(body) + trailerSize
	body = nil
	f, err := os.Open(c.path(name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	_, rss0 := memoryInUse()
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(data)
	_ = syscall.Madvise(data, syscall.MADV_RANDOM)
	v, err := NewView(data[:size-trailerSize])
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range lookups {
		v.Search(randomID(rng, uniformIDs))
	}
	_, rss1 := memoryInUse()
	return rss1 - rss0
}
