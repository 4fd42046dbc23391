package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

func TestGetResumesInterruptedDownload(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100))
	tests := []struct {
		name           string
		offset, length int64
		breakAfter     []int
		readErr        error
		wantGets       []span
	}{
		{
			name: "whole object, transient", offset: 0, length: -1,
			breakAfter: []int{300, 200}, readErr: transient(0),
			wantGets: []span{{0, -1}, {300, -1}, {500, -1}},
		},
		{
			name: "range, unexpected EOF", offset: 100, length: 500,
			breakAfter: []int{50, 0, 400}, readErr: io.ErrUnexpectedEOF,
			wantGets: []span{{100, 500}, {150, 450}, {150, 450}, {550, 50}},
		},
		{
			// The whole range arrived; only the clean end was lost, so
			// there is nothing left to fetch.
			name: "error after the last byte", offset: 10, length: 20,
			breakAfter: []int{20}, readErr: transient(0),
			wantGets: []span{{10, 20}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := newScripted()
			inner.objects["data/obj"] = data
			inner.breakAfter = tc.breakAfter
			inner.readErr = tc.readErr
			var rec recorder
			s := New(inner, rec.policy(0))
			rc, err := s.Get(t.Context(), "data/obj", tc.offset, tc.length)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			end := int64(len(data))
			if tc.length >= 0 {
				end = tc.offset + tc.length
			}
			if want := data[tc.offset:end]; string(got) != string(want) {
				t.Errorf("read %d bytes, want %d (content differs)", len(got), len(want))
			}
			if !slices.Equal(inner.gets, tc.wantGets) {
				t.Errorf("inner Gets = %v, want %v", inner.gets, tc.wantGets)
			}
		})
	}
}

func TestGetReaderBudget(t *testing.T) {
	inner := newScripted()
	inner.objects["data/obj"] = []byte(strings.Repeat("x", 100))
	// Every reader breaks after one byte.
	inner.breakAfter = slices.Repeat([]int{1}, 50)
	inner.readErr = transient(0)
	var rec recorder
	s := New(inner, rec.policy(4))
	rc, err := s.Get(t.Context(), "data/obj", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, storage.ErrTransient) || !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Errorf("ReadAll: got %v, want a transient error after 4 attempts", err)
	}
	if len(got) != 4 || len(inner.gets) != 4 {
		t.Errorf("read %d bytes with %d Gets, want 4 and 4", len(got), len(inner.gets))
	}
	if _, err2 := rc.Read(make([]byte, 1)); err2 == nil {
		t.Errorf("Read after giving up succeeded")
	}
}

func TestGetReaderReopenFailures(t *testing.T) {
	inner := newScripted()
	inner.objects["data/obj"] = []byte("abcdef")
	inner.breakAfter = []int{2}
	inner.readErr = transient(0)
	var rec recorder
	s := New(inner, rec.policy(0))
	rc, err := s.Get(t.Context(), "data/obj", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	// The object vanished between the first read and the re-open: the
	// reader must report it rather than retry or return a short object.
	inner.fail["get"] = []error{transient(1), fmt.Errorf("gone: %w", storage.ErrNotFound)}
	got, err := io.ReadAll(rc)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadAll: got %v, want ErrNotFound", err)
	}
	if string(got) != "ab" {
		t.Errorf("read %q before the failure, want %q", got, "ab")
	}
}

func TestGetReaderHonoursContext(t *testing.T) {
	inner := newScripted()
	inner.objects["data/obj"] = []byte("abcdef")
	inner.breakAfter = []int{2}
	inner.readErr = transient(0)
	ctx, cancel := context.WithCancel(t.Context())
	var rec recorder
	s := New(inner, rec.policy(0))
	rc, err := s.Get(ctx, "data/obj", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAll after cancel: got %v, want context.Canceled", err)
	}
	if len(inner.gets) != 1 {
		t.Errorf("re-opened %d times after cancellation", len(inner.gets)-1)
	}
}

func TestListResumesWithoutDuplicates(t *testing.T) {
	inner := newScripted()
	var want []string
	for i := range 10 {
		name := fmt.Sprintf("data/%02d", i)
		inner.objects[name] = nil
		want = append(want, name)
	}
	inner.fail["list-mid"] = []error{transient(1), transient(2)}
	var rec recorder
	s := New(inner, rec.policy(0))
	var got []string
	err := s.List(t.Context(), "data/", func(fi storage.ObjectInfo) error {
		got = append(got, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List reported %q, want %q", got, want)
	}
	if inner.calls["list"] != 3 {
		t.Errorf("inner List called %d times, want 3", inner.calls["list"])
	}
}

func TestListCallbackErrorIsNotRetried(t *testing.T) {
	inner := newScripted()
	inner.objects["a"], inner.objects["b"] = nil, nil
	var rec recorder
	s := New(inner, rec.policy(0))
	// Even a callback error that looks transient belongs to the caller.
	stop := transient(7)
	calls := 0
	err := s.List(t.Context(), "", func(storage.ObjectInfo) error {
		calls++
		return stop
	})
	if err != stop { //nolint:errorlint // the contract says "returned as is"
		t.Errorf("List returned %v, want the callback's error itself", err)
	}
	if calls != 1 || inner.calls["list"] != 1 {
		t.Errorf("callback called %d times, inner List %d times; want 1 and 1", calls, inner.calls["list"])
	}
}

// TestGetResumesAfterShortReads uses the fault package's short reads, which
// end every download after 300 bytes with io.ErrUnexpectedEOF.
func TestGetResumesAfterShortReads(t *testing.T) {
	inner := mem.New()
	data := []byte(strings.Repeat("abcdefghij", 100))
	if err := inner.Put(t.Context(), "data/obj", data); err != nil {
		t.Fatal(err)
	}
	f := fault.New(inner)
	f.ShortRead("data/", 300)
	var rec recorder
	s := New(f, rec.policy(0))
	got, err := storage.ReadAll(t.Context(), s, "data/obj")
	if err != nil || string(got) != string(data) {
		t.Fatalf("ReadAll: %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
	if n := f.Calls(fault.OpGet); n != 4 {
		t.Errorf("%d Gets, want 4 (300 bytes each)", n)
	}
}

// stallingBody yields its data, then blocks until it is closed, like a
// connection on which the server stopped sending.
type stallingBody struct {
	data   []byte
	closed chan struct{}
	once   sync.Once
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *stallingBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// stallingStore serves its first Get with a body that stalls after 10
// bytes, later ones from the inner store.
type stallingStore struct {
	storage.Store
	mu   sync.Mutex
	gets []span
}

func (s *stallingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.gets = append(s.gets, span{offset, length})
	first := len(s.gets) == 1
	s.mu.Unlock()
	rc, err := s.Store.Get(ctx, name, offset, length)
	if err != nil || !first {
		return rc, err
	}
	defer rc.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(rc, head); err != nil {
		return nil, err
	}
	return &stallingBody{data: head, closed: make(chan struct{})}, nil
}

func TestGetResumesStalledBody(t *testing.T) {
	inner := mem.New()
	data := []byte(strings.Repeat("0123456789", 10))
	if err := inner.Put(t.Context(), "data/obj", data); err != nil {
		t.Fatal(err)
	}
	st := &stallingStore{Store: inner}
	var rec recorder
	p := rec.policy(0)
	p.StallTimeout = 5 * time.Millisecond
	var notified []error
	p.Notify = func(op, name string, attempt int, err error, wait time.Duration) { notified = append(notified, err) }
	got, err := storage.ReadAll(t.Context(), New(st, p), "data/obj")
	if err != nil || string(got) != string(data) {
		t.Fatalf("ReadAll over a stalled body: %d bytes, %v; want all %d", len(got), err, len(data))
	}
	if want := []span{{0, -1}, {10, -1}}; !slices.Equal(st.gets, want) {
		t.Errorf("Gets = %v, want %v (resumed after the 10 bytes received)", st.gets, want)
	}
	if len(notified) != 1 || !errors.Is(notified[0], storage.ErrTransient) || !strings.Contains(notified[0].Error(), "no data") {
		t.Errorf("retries reported: %v, want one transient stall", notified)
	}
}

// TestGetRetriesUnclassifiedResets: a reset from a backend that does not
// classify read errors is resumed like io.ErrUnexpectedEOF.
func TestGetRetriesUnclassifiedResets(t *testing.T) {
	inner := newScripted()
	inner.objects["data/obj"] = []byte("abcdef")
	inner.breakAfter = []int{3}
	inner.readErr = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	var rec recorder
	got, err := storage.ReadAll(t.Context(), New(inner, rec.policy(0)), "data/obj")
	if err != nil || string(got) != "abcdef" {
		t.Errorf("ReadAll over a reset: %q, %v", got, err)
	}
}

// TestCutsWithProgressKeepWaitsShort: a link that cuts a long download
// every few bytes but delivers between cuts is resumed after the first
// backoff each time, not after ever longer waits: the backoff grows only
// within a run of failures without progress.
func TestCutsWithProgressKeepWaitsShort(t *testing.T) {
	inner := mem.New()
	data := []byte(strings.Repeat("abcdefghij", 200))
	ctx := context.Background()
	if err := inner.Put(ctx, "data/x", data); err != nil {
		t.Fatal(err)
	}
	fs := fault.New(inner)
	fs.ShortRead("data/", 100) // every Get delivers 100 bytes, then breaks
	var waits []time.Duration
	s := New(fs, Policy{Base: time.Millisecond, Max: time.Second, Rand: func(n time.Duration) time.Duration { return n - 1 },
		Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	rc, err := s.Get(ctx, "data/x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if len(waits) < 15 {
		t.Fatalf("only %d resumptions; the fault did not cut as intended", len(waits))
	}
	for i, w := range waits {
		if w > 2*time.Millisecond {
			t.Fatalf("wait %d after progress was %v: the backoff kept growing across cuts", i, w)
		}
	}
}
