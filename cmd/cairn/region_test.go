package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/state"
)

// A region remembered for an S3 location that has become wrong (the
// bucket answers only to eu-central-1) is dropped: the command opens the
// location again as a first contact does, learns the region from the
// server's answer, remembers it, and goes on (here to "no repository",
// since the bucket is empty) instead of failing with a region error.
func TestStaleRememberedRegion(t *testing.T) {
	home := isolate(t)
	var wrong atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["location"]; ok {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		if !strings.Contains(r.Header.Get("Authorization"), "/eu-central-1/s3/aws4_request") {
			wrong.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region is wrong; expecting 'eu-central-1'</Message><Region>eu-central-1</Region></Error>`))
			return
		}
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>`))
			return
		}
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`))
	}))
	defer srv.Close()
	url := "s3+http://" + srv.Listener.Addr().String() + "/bucket/repo"
	base := state.Base(filepath.Join(home, ".local", "state", "cairn"))
	if err := base.Location(url).SetRegion("eu-west-3"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("CAIRN_PASSWORD", "pw")
	r := cairn(t, "--repo", url, "--s3-lookup", "path", "snapshots")
	if r.code != exitNoRepository {
		t.Fatalf("exit %d, stderr %q; want %d (no repository) after dropping the stale region", r.code, r.stderr, exitNoRepository)
	}
	if wrong.Load() == 0 {
		t.Fatal("test setup: no request was signed for the stale region")
	}
	if got := base.Location(url).Region(); got != "eu-central-1" {
		t.Errorf("remembered region %q, want eu-central-1", got)
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "state", "cairn")); err != nil {
		t.Fatal(err)
	}
}
