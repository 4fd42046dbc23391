package s3_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// putRecord is what a recording proxy saw of one PUT.
type putRecord struct {
	path   string
	header http.Header
	body   []byte
}

// checkPutHeaders fails t for every PUT that does not carry exactly the
// headers cairn means to send: Content-MD5 of the body, no checksum
// headers or trailers (B2 refuses them), no aws-chunked streaming
// signature (some servers store the chunk framing), UNSIGNED-PAYLOAD with
// Content-MD5 among the signed headers, If-None-Match: *, and
// the storage class on data packs only.
func checkPutHeaders(t *testing.T, puts []putRecord, class string) {
	t.Helper()
	if len(puts) == 0 {
		t.Fatal("no PUT recorded")
	}
	for _, p := range puts {
		h := p.header
		sum := md5.Sum(p.body)
		if got, want := h.Get("Content-Md5"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("PUT %s: Content-MD5 %q, want %q (the MD5 of the body)", p.path, got, want)
		}
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") || strings.EqualFold(k, "X-Amz-Trailer") ||
				strings.EqualFold(k, "X-Amz-Sdk-Checksum-Algorithm") {
				t.Errorf("PUT %s carries %s: %q", p.path, k, h.Get(k))
			}
		}
		if ce := h.Get("Content-Encoding"); strings.Contains(ce, "aws-chunked") {
			t.Errorf("PUT %s: Content-Encoding %q", p.path, ce)
		}
		if sha := h.Get("X-Amz-Content-Sha256"); strings.HasPrefix(sha, "STREAMING-") || h.Get("X-Amz-Decoded-Content-Length") != "" {
			t.Errorf("PUT %s: streaming signature (x-amz-content-sha256 %q)", p.path, sha)
		}
		// The signature binds the body through its Content-MD5.
		if got := h.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
			t.Errorf("PUT %s: x-amz-content-sha256 %q, want UNSIGNED-PAYLOAD", p.path, got)
		}
		if auth := h.Get("Authorization"); !strings.Contains(auth, "content-md5") {
			t.Errorf("PUT %s: Content-MD5 is not a signed header: %q", p.path, auth)
		}
		if got := h.Get("If-None-Match"); got != "*" {
			t.Errorf("PUT %s: If-None-Match %q, want *", p.path, got)
		}
		wantClass := ""
		if strings.Contains(p.path, "/data/") {
			wantClass = class
		}
		if got := h.Get("X-Amz-Storage-Class"); got != wantClass {
			t.Errorf("PUT %s: storage class %q, want %q", p.path, got, wantClass)
		}
	}
}

var integrityObjects = map[string][]byte{
	"config":          []byte("the config"),
	"keys/0123abcd":   []byte("a key file"),
	"data/ab/ab12cd":  bytes.Repeat([]byte("pack bytes "), 10000),
	"snapshots/00ff":  []byte("a snapshot"),
	"index/0a0b":      []byte("an index"),
	"leases/12345678": []byte{},
}

// testUploadHeaders puts objects through a recording reverse proxy in front
// of the real server, checks every PUT's headers, and reads the objects
// back: the server stored exactly what was sent.
func testUploadHeaders(t *testing.T, cfg s3.Config) {
	target, err := url.Parse("http://" + cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var puts []putRecord
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			body, err := readAll(r.Body)
			if err != nil {
				t.Errorf("proxy: read PUT body: %v", err)
			}
			mu.Lock()
			puts = append(puts, putRecord{r.URL.Path, r.Header.Clone(), body})
			mu.Unlock()
			r.Body = readCloser{bytes.NewReader(body)}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	cfg.StorageClass = "STANDARD" // the one class MinIO accepts everywhere
	s := mustNew(t, cfg)
	for name, data := range integrityObjects {
		if err := s.Put(t.Context(), name, data); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	mu.Lock()
	checkPutHeaders(t, puts, "STANDARD")
	mu.Unlock()
	for name, want := range integrityObjects {
		rc, err := s.Get(t.Context(), name, 0, -1)
		if err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
		got, err := readAll(rc)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get %s: %d bytes, %v; want the %d bytes sent", name, len(got), err, len(want))
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestPutHeadersOverPlainHTTP(t *testing.T) {
	f := &fakeS3{}
	s := newFakeStoreWith(t, f, func(cfg *s3.Config) { cfg.StorageClass = "standard_ia" })
	for name, data := range integrityObjects {
		if err := s.Put(t.Context(), name, data); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	f.locked(func() {
		checkPutHeaders(t, f.putRecords, "STANDARD_IA")
		// The fake stored the bodies as received: they must be the bytes
		// sent, not aws-chunked framing.
		for name, want := range integrityObjects {
			if got := f.objects["/bucket/"+name]; !bytes.Equal(got, want) {
				t.Errorf("%s stored as %d bytes, want the %d bytes sent", name, len(got), len(want))
			}
		}
	})
}

func TestPutFailsWhenServerStoresSomethingElse(t *testing.T) {
	f := &fakeS3{damage: true}
	s := newFakeStore(t, f, nil)
	err := s.Put(t.Context(), "keys/0123abcd", []byte("a key file"))
	if err == nil {
		t.Fatal("Put to a server that damaged the upload succeeded")
	}
	if !strings.Contains(err.Error(), "keys/0123abcd") || !strings.Contains(err.Error(), "stored something else") {
		t.Errorf("error %q does not name the object and say the server stored something else", err)
	}
	if errors.Is(err, storage.ErrTransient) || errors.Is(err, storage.ErrExists) {
		t.Errorf("error %v is classified transient or exists; want a plain failure", err)
	}
}

// TestPutHeadersOverTLS: over HTTPS the body is sent as is with
// UNSIGNED-PAYLOAD and Content-MD5: no streaming signature, no checksum
// trailer.
func TestPutHeadersOverTLS(t *testing.T) {
	f := &fakeS3{objects: map[string][]byte{}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	s := mustNew(t, s3.Config{
		Endpoint:  strings.TrimPrefix(srv.URL, "https://"),
		Bucket:    "bucket",
		AccessKey: "key",
		SecretKey: "secret",
		Region:    "us-east-1",
		Lookup:    "path",
		Transport: srv.Client().Transport,
	})
	data := bytes.Repeat([]byte("pack "), 5000)
	if err := s.Put(t.Context(), "data/ab/ab34", data); err != nil {
		t.Fatalf("Put over TLS: %v", err)
	}
	f.locked(func() {
		if len(f.putRecords) != 1 {
			t.Fatalf("%d PUTs, want 1", len(f.putRecords))
		}
		p := f.putRecords[0]
		sum := md5.Sum(data)
		h := p.header
		if h.Get("Content-Md5") != base64.StdEncoding.EncodeToString(sum[:]) || h.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" ||
			h.Get("Content-Encoding") != "" || h.Get("X-Amz-Trailer") != "" || !bytes.Equal(p.body, data) {
			t.Errorf("PUT over TLS: headers %v, %d body bytes; want Content-MD5, UNSIGNED-PAYLOAD and the body as sent", h, len(p.body))
		}
	})
}

// TestPutAcceptsKMSETag: an object the server encrypted with SSE-KMS has
// an ETag that is not its MD5; that is not damage.
func TestPutAcceptsKMSETag(t *testing.T) {
	f := &fakeS3{kms: true}
	s := newFakeStore(t, f, nil)
	if err := s.Put(t.Context(), "config", []byte("the config")); err != nil {
		t.Errorf("Put to a server encrypting with SSE-KMS: %v", err)
	}
}
