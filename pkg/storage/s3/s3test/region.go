package s3test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// RegionLocked is a bucket that answers only requests signed for one
// region, behind a key that may not ask for the bucket's location: every
// other request gets AWS's wrong-region error naming the region. Objects
// are never found and listings are empty.
type RegionLocked struct {
	*httptest.Server
	// Wrong counts the requests signed for another region.
	Wrong atomic.Int64
}

// NewRegionLocked starts the server for region; it stops with the test.
func NewRegionLocked(t testing.TB, region string) *RegionLocked {
	s := &RegionLocked{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["location"]; ok {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		if !strings.Contains(r.Header.Get("Authorization"), "/"+region+"/s3/aws4_request") {
			s.Wrong.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting '` +
				region + `'</Message><Region>` + region + `</Region></Error>`))
			return
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Query().Get("list-type") == "" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>`))
			return
		}
		_, _ = w.Write([]byte(EmptyListing))
	}))
	t.Cleanup(s.Close)
	return s
}

// EmptyListing is a ListObjectsV2 answer with no objects.
const EmptyListing = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`
