package backends

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/s3/s3test"
)

// TestRegionCorrectedFromError: a bucket outside us-east-1, behind a key
// that may not ask for the bucket's location and an endpoint that names no
// region, works: the first wrong-region answer names the region, and the
// store is opened again with it, once.
func TestRegionCorrectedFromError(t *testing.T) {
	srv := s3test.NewRegionLocked(t, "eu-central-1")
	var warned []string
	var settled string
	s, err := Open(context.Background(), "s3+http://"+srv.Listener.Addr().String()+"/bucket/repo", Options{
		AccessKey: "key", SecretKey: "secret", PathStyle: PathStylePath,
		Warn:     func(msg string) { warned = append(warned, msg) },
		OnRegion: func(r string) { settled = r },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.List(context.Background(), "snapshots/", func(storage.ObjectInfo) error { return nil })
	if err != nil {
		t.Fatalf("list after the region was corrected: %v", err)
	}
	if srv.Wrong.Load() == 0 || len(warned) != 1 || !strings.Contains(warned[0], "eu-central-1") {
		t.Fatalf("wrong-region answers %d, warnings %q: the correction did not happen as intended", srv.Wrong.Load(), warned)
	}
	if settled != "eu-central-1" {
		t.Errorf("OnRegion told %q, want eu-central-1", settled)
	}
}

// TestRegionHintSkipsProbe: a region remembered for the location is used
// as it is, with no location query and no probe listing; a request then
// goes out signed for it.
func TestRegionHintSkipsProbe(t *testing.T) {
	var probes, requests atomic.Int64
	var signedFor atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if _, ok := r.URL.Query()["location"]; ok || r.URL.Query().Get("prefix") == "repo/config" {
			probes.Add(1)
		}
		signedFor.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(s3test.EmptyListing))
	}))
	defer srv.Close()
	s, err := Open(context.Background(), "s3+http://"+srv.Listener.Addr().String()+"/bucket/repo", Options{
		AccessKey: "key", SecretKey: "secret", PathStyle: PathStylePath, RegionHint: "eu-west-3",
		OnRegion: func(r string) { t.Errorf("OnRegion(%q) without a probe", r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.List(context.Background(), "snapshots/", func(storage.ObjectInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if probes.Load() != 0 || requests.Load() != 1 {
		t.Errorf("%d probe requests, %d in all; want none and 1", probes.Load(), requests.Load())
	}
	if auth, _ := signedFor.Load().(string); !strings.Contains(auth, "/eu-west-3/s3/aws4_request") {
		t.Errorf("request signed as %q, want the hinted region", auth)
	}
}
