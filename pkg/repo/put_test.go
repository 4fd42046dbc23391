package repo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
)

func TestPutNew(t *testing.T) {
	ctx := context.Background()
	base := mem.New()
	r := &Repository{store: base}
	data := []byte("sealed bytes")
	if err := r.putNew(ctx, "data/aa/aa01", data); err != nil {
		t.Fatalf("first put: %v", err)
	}
	// The same upload again (a retry, a second run of the same pack):
	// the stored object has the content's size, so it is this one.
	if err := r.putNew(ctx, "data/aa/aa01", data); err != nil {
		t.Errorf("put of an existing object of the same size: %v, want success", err)
	}
	// Something else under the name: reported, never taken for ours.
	if err := base.Replace("data/aa/aa02", []byte("junk")); err != nil {
		t.Fatal(err)
	}
	err := r.putNew(ctx, "data/aa/aa02", data)
	if !errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("put over an object of another size: %v, want ErrExists saying it is damaged", err)
	}
}

// TestPutNewAfterLostAnswer: through the retry decorator, an upload whose
// first answer was lost ends in ErrExists over its own bytes, which putNew
// turns into success.
func TestPutNewAfterLostAnswer(t *testing.T) {
	ctx := context.Background()
	f := fault.New(mem.New())
	f.Add(fault.Rule{Op: fault.OpPut, Nth: 1, AfterInner: true, Err: storage.ErrTransient})
	noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	r := &Repository{store: retry.New(f, retry.Policy{Sleep: noWait})}
	if err := r.putNew(ctx, "index/i1", []byte("index body")); err != nil {
		t.Errorf("put after a lost answer: %v, want success", err)
	}
	if n := f.Calls(fault.OpPut); n != 2 {
		t.Errorf("%d Puts, want 2 (the lost one and the retry)", n)
	}
}
