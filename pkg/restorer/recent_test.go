package restorer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func recentID(i int) crypto.ID {
	var id crypto.ID
	copy(id[:], fmt.Sprintf("blob %d", i))
	return id
}

// The ring returns exact copies of what it still holds, forgets what the
// writes overwrote (never returning bytes of another blob), and keeps its
// bookkeeping bounded.
func TestRecentBlobsRing(t *testing.T) {
	c := newRecentBlobs(1024) // blobs up to 32 bytes
	blob := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 10+i%23) }
	for i := range 500 {
		c.add(recentID(i), blob(i))
		got, ok := c.get(recentID(i))
		if !ok || !bytes.Equal(got, blob(i)) {
			t.Fatalf("blob %d just added: %v %x", i, ok, got)
		}
		got[0] ^= 0xff // a copy: changing it changes nothing kept
	}
	kept := 0
	for i := range 500 {
		got, ok := c.get(recentID(i))
		if !ok {
			continue
		}
		kept++
		if !bytes.Equal(got, blob(i)) {
			t.Fatalf("blob %d: got %x, want %x", i, got, blob(i))
		}
		if i < 500-1024/10 {
			t.Errorf("blob %d still held: more than the ring's bytes", i)
		}
	}
	if kept == 0 || kept != len(c.spans) {
		t.Errorf("%d blobs readable, %d held", kept, len(c.spans))
	}
	if len(c.order) > 2*kept+2 {
		t.Errorf("%d entries in the order queue for %d blobs held", len(c.order), kept)
	}
	if _, ok := c.get(recentID(499)); !ok {
		t.Error("the last blob is gone")
	}
	c.add(recentID(1000), make([]byte, 33)) // above size/32
	if _, ok := c.get(recentID(1000)); ok {
		t.Error("a blob above the size limit was kept")
	}
}
