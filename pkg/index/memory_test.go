package index

import (
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// maxHeapPerEntry is the product requirement: at most 24 bytes of memory per
// indexed blob (restic needs about 96).
const maxHeapPerEntry = 24

// loadedSetCost stores a synthetic index of n entries in a cache, then
// measures what loading it into a Set and making lookups costs: heap in use
// after a GC, and resident set size (views read with pread, so the file's
// pages stay in the page cache and count only if something maps them).
func loadedSetCost(tb testing.TB, n, lookups int) (heap, rss int64) {
	tb.Helper()
	c, err := OpenCache(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	body, sample := syntheticBody(n, uint64(n))
	name := crypto.Hash(body[:4096])
	if err := c.Store(name, body); err != nil {
		tb.Fatal(err)
	}
	body = nil

	heap0, rss0 := memoryInUse()
	set := NewSet()
	v, err := c.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	set.AddView(name, v)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range lookups {
		id := randomID(rng, uniformIDs)
		if i%2 == 0 {
			id = sample[i%len(sample)]
		}
		if set.Has(id) != (i%2 == 0) {
			tb.Fatalf("Has(%s) wrong", id.Short())
		}
	}
	heap1, rss1 := memoryInUse()
	runtime.KeepAlive(set)
	runtime.KeepAlive(sample)
	return heap1 - heap0, rss1 - rss0
}

// memoryInUse collects garbage and returns the heap in use and the RSS.
func memoryInUse() (heap, rss int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), residentBytes()
}

// residentBytes reads the RSS from /proc (0 where there is none).
func residentBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// expectedFileViewPerEntry bounds the heap of a view loaded from the cache:
// 2 bytes of fingerprint and 0.125 of fences per entry (measured 2.10),
// with room for measurement noise.
const expectedFileViewPerEntry = 3

// TestHeapPerEntry measures the heap cost of a loaded index as the slope
// between 100k and 1M entries and holds it to the 24-byte budget, and to
// what a cached view should cost: its fences and fingerprints, about 2.125
// bytes per entry, read with pread so that lookups add nothing else. RSS
// is logged, not asserted: it depends on the kernel and on how many
// lookups a run makes.
func TestHeapPerEntry(t *testing.T) {
	const small, large, lookups = 100_000, 1_000_000, 20
	heapSmall, rssSmall := loadedSetCost(t, small, lookups)
	heapLarge, rssLarge := loadedSetCost(t, large, lookups)
	heapSlope := float64(heapLarge-heapSmall) / (large - small)
	rssSlope := float64(rssLarge-rssSmall) / (large - small)
	t.Logf("heap: %d B at %d entries, %d B at %d: %.3f B/entry", heapSmall, small, heapLarge, large, heapSlope)
	t.Logf("RSS after %d lookups: %d B at %d entries, %d B at %d: %.3f B/entry", lookups, rssSmall, small, rssLarge, large, rssSlope)
	if heapSlope > maxHeapPerEntry {
		t.Errorf("loaded index costs %.1f heap bytes per entry, budget %d", heapSlope, maxHeapPerEntry)
	} else if heapSlope > expectedFileViewPerEntry {
		t.Errorf("cached view costs %.2f heap bytes per entry, expected about 2.125 (fingerprints and fences)", heapSlope)
	}
}

// BenchmarkRSSAfterLookups reports the resident memory that lookups into a
// cached 1.5M-entry index add, per indexed entry, for a small run (20
// lookups) and a big one (20k lookups: about 20 GiB of new data).
func BenchmarkRSSAfterLookups(b *testing.B) {
	for _, lookups := range []int{20, 20_000} {
		b.Run(strconv.Itoa(lookups), func(b *testing.B) {
			var heap, rss int64
			for b.Loop() {
				heap, rss = loadedSetCost(b, 1_500_000, lookups)
			}
			b.ReportMetric(float64(heap)/1.5e6, "heapB/entry")
			b.ReportMetric(float64(rss)/1.5e6, "rssB/entry")
		})
	}
}
