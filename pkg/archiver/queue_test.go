package archiver

import (
	"fmt"
	"testing"
)

// queueFiles makes file jobs of the given sizes in one directory.
func queueFiles(sizes ...uint64) []*fileJob {
	d := &dirNode{path: "/d", entries: make([]entry, len(sizes))}
	jobs := make([]*fileJob, len(sizes))
	for i, size := range sizes {
		d.entries[i].node.Size = size
		jobs[i] = &fileJob{dir: d, slot: i, path: fmt.Sprintf("/d/f%d", i)}
	}
	return jobs
}

// nextName takes the next piece of work and names it: a file's path or a
// directory's path.
func nextName(t *testing.T, q *queue) string {
	t.Helper()
	f, d, ok := q.next()
	switch {
	case !ok:
		t.Fatal("queue closed")
	case f != nil:
		return f.path
	}
	return d.path
}

// A large file waits while its chunker is taken and there is other work,
// so that the workers scan directories and read small files instead of
// all waiting for the chunker (the 1 GiB file of the mixed set held it
// while its uploads crawled, and the small files were read only after it).
func TestQueueLargeFilesWaitForChunker(t *testing.T) {
	const minSize = 1000
	q := newQueue(0, minSize, 1)
	files := queueFiles(5000, 6000, 10, 7000)
	q.push(files, []*dirNode{{path: "/a"}, {path: "/b"}})

	want := []string{
		"/d/f2", // small files first
		"/d/f0", // the chunker is free
		"/a",    // the chunker is taken: directories rather than f1
		"/b",
		"/d/f1", // nothing else to do: wait for the chunker
		"/d/f3",
	}
	for i, w := range want {
		if got := nextName(t, q); got != w {
			t.Fatalf("take %d: %s, want %s", i, got, w)
		}
	}
	if q.largeBusy != 3 {
		t.Fatalf("%d large files handed out, want 3", q.largeBusy)
	}
	for _, f := range files {
		if f.large != (f.node().Size >= minSize) {
			t.Errorf("%s: large=%v for %d bytes", f.path, f.large, f.node().Size)
		}
	}

	// Once the chunker is free again, a large file goes before a directory.
	q.largeDone()
	q.largeDone()
	q.largeDone()
	q.push(queueFiles(8000), []*dirNode{{path: "/c"}})
	if got := nextName(t, q); got != "/d/f0" {
		t.Fatalf("with the chunker free: %s, want the large file", got)
	}
	if got := nextName(t, q); got != "/c" {
		t.Fatalf("then %s, want /c", got)
	}
}

// Directories do not overtake large files without bound: once
// maxWaitingLarge wait, workers take them and wait for the chunker, so
// that the directories held in memory for them stay bounded.
func TestQueueBoundsWaitingLargeFiles(t *testing.T) {
	q := newQueue(0, 1, 1)
	sizes := make([]uint64, maxWaitingLarge+1)
	for i := range sizes {
		sizes[i] = 10
	}
	q.push(queueFiles(sizes...), []*dirNode{{path: "/a"}})
	if got := nextName(t, q); got != "/d/f0" {
		t.Fatalf("first: %s", got)
	}
	// maxWaitingLarge wait and the chunker is taken: still a large file.
	if got := nextName(t, q); got != "/d/f1" {
		t.Fatalf("with %d waiting: %s, want /d/f1", maxWaitingLarge, got)
	}
	// One fewer waits now: the directory goes first.
	if got := nextName(t, q); got != "/a" {
		t.Fatalf("with %d waiting: %s, want /a", maxWaitingLarge-1, got)
	}
}
