package s3_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// fakeS3 is just enough of an S3 server for PUT and HEAD of objects,
// honouring If-None-Match: * or, with refuseConditional, answering it with
// 501 NotImplemented like providers that lack conditional writes.
type fakeS3 struct {
	refuseConditional bool
	// stallHeaders requests are answered with nothing until the client
	// gives up; then stallBodies GETs send half the body and stall.
	stallHeaders, stallBodies int
	// throttle requests are answered 503 SlowDown with Retry-After: 3.
	throttle int
	// damage makes PUTs store the body with its first byte changed and
	// answer with the MD5 of what was stored, like a server that damages
	// uploads without checking Content-MD5.
	damage bool
	// kms answers PUTs with an ETag that is not the MD5 of the body, and
	// HEADs with x-amz-server-side-encryption: aws:kms, as S3 does for
	// objects encrypted with SSE-KMS.
	kms bool

	putRecords []putRecord // every PUT as received

	mu      sync.Mutex
	objects map[string][]byte
	puts    []string // the If-None-Match header of every PUT
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.stallHeaders > 0 {
		f.stallHeaders--
		f.mu.Unlock()
		<-r.Context().Done() // the client closed the connection
		return
	}
	defer f.mu.Unlock()
	if f.throttle > 0 {
		f.throttle--
		w.Header().Set("Retry-After", "3")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>fake</Message></Error>")
		return
	}
	xmlError := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"+code+"</Code><Message>fake</Message></Error>")
	}
	switch r.Method {
	case http.MethodPut:
		cond := r.Header.Get("If-None-Match")
		f.puts = append(f.puts, cond)
		body, _ := io.ReadAll(r.Body)
		f.putRecords = append(f.putRecords, putRecord{r.URL.Path, r.Header.Clone(), bytes.Clone(body)})
		if f.damage && len(body) > 0 {
			body[0] ^= 0xff
		}
		if cond != "" && f.refuseConditional {
			xmlError(http.StatusNotImplemented, "NotImplemented")
			return
		}
		if _, ok := f.objects[r.URL.Path]; ok && cond == "*" {
			xmlError(http.StatusPreconditionFailed, "PreconditionFailed")
			return
		}
		f.objects[r.URL.Path] = body
		sum := md5.Sum(body)
		if f.kms {
			sum = md5.Sum(append([]byte("kms"), body...))
		}
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case http.MethodHead:
		data, ok := f.objects[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Last-Modified", time.Unix(1e9, 0).UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"00"`)
		if f.kms {
			w.Header().Set("X-Amz-Server-Side-Encryption", "aws:kms")
		}
	case http.MethodGet:
		data, ok := f.objects[r.URL.Path]
		if !ok {
			xmlError(http.StatusNotFound, "NoSuchKey")
			return
		}
		status := http.StatusOK
		if rng := r.Header.Get("Range"); rng != "" {
			var start int
			fmt.Sscanf(rng, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			data = data[start:]
			status = http.StatusPartialContent
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Last-Modified", time.Unix(1e9, 0).UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"00"`)
		w.WriteHeader(status)
		if f.stallBodies > 0 {
			f.stallBodies--
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			f.mu.Unlock()
			<-r.Context().Done()
			f.mu.Lock() // for the deferred Unlock
			return
		}
		w.Write(data)
	default:
		xmlError(http.StatusNotImplemented, "NotImplemented")
	}
}

// locked runs fn under the fake's lock, for tests that change its knobs or
// look at what it stored while its handlers may run.
func (f *fakeS3) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func newFakeStore(t *testing.T, f *fakeS3, warn func(string)) *s3.Store {
	t.Helper()
	return newFakeStoreWith(t, f, func(cfg *s3.Config) { cfg.Warn = warn })
}

func newFakeStoreWith(t *testing.T, f *fakeS3, configure func(*s3.Config)) *s3.Store {
	t.Helper()
	if f.objects == nil {
		f.objects = map[string][]byte{}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := s3.Config{
		Endpoint:  strings.TrimPrefix(srv.URL, "http://"),
		Bucket:    "bucket",
		Insecure:  true,
		AccessKey: "key",
		SecretKey: "secret",
		Region:    "us-east-1",
		Lookup:    "path",
	}
	configure(&cfg)
	return mustNew(t, cfg)
}

func TestPutIsConditional(t *testing.T) {
	f := &fakeS3{}
	var warnings []string
	s := newFakeStore(t, f, func(msg string) { warnings = append(warnings, msg) })
	ctx := t.Context()
	if err := s.Put(ctx, "data/aa/aa01", []byte("first")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	err := s.Put(ctx, "data/aa/aa01", []byte("second"))
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("Put of an existing key: %v, want storage.ErrExists", err)
	}
	if errors.Is(err, storage.ErrTransient) {
		t.Errorf("Put of an existing key is transient: %v", err)
	}
	// Over plain HTTP minio-go frames the body as aws-chunked; the fake
	// stores the frames as they came.
	f.locked(func() {
		if got := string(f.objects["/bucket/data/aa/aa01"]); !strings.Contains(got, "first") || strings.Contains(got, "second") {
			t.Errorf("object after refused Put = %q, want the first content", got)
		}
		if strings.Join(f.puts, ",") != "*,*" {
			t.Errorf("If-None-Match of the PUTs = %q, want * on every one", f.puts)
		}
	})
	if len(warnings) != 0 {
		t.Errorf("warnings from a server with conditional writes: %q", warnings)
	}
}

func TestPutFallsBackOnceWithoutConditionalWrites(t *testing.T) {
	f := &fakeS3{refuseConditional: true}
	var warnings []string
	s := newFakeStore(t, f, func(msg string) { warnings = append(warnings, msg) })
	ctx := t.Context()
	for _, name := range []string{"data/aa/aa01", "data/aa/aa02", "index/i1"} {
		if err := s.Put(ctx, name, []byte(name)); err != nil {
			t.Fatalf("Put(%s) on a server without conditional writes: %v", name, err)
		}
	}
	// One refused conditional PUT, then plain ones only.
	f.locked(func() {
		if want := "*,,,"; strings.Join(f.puts, ",") != want {
			t.Errorf("If-None-Match of the PUTs = %q, want one refused conditional PUT and then plain ones", f.puts)
		}
	})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "conditional") {
		t.Errorf("warnings = %q, want exactly one about conditional uploads", warnings)
	}
	if _, err := s.Stat(ctx, "index/i1"); err != nil {
		t.Errorf("Stat after fallback: %v", err)
	}
}
