package versitygw

import "testing"

// TestStart checks that the harness brings a gateway up, that it serves
// signed requests, and that two servers in one test do not collide.
func TestStart(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Endpoint == b.Endpoint {
		t.Fatalf("two servers on one endpoint %s", a.Endpoint)
	}
	a.MakeBucket(t, "one")
	b.MakeBucket(t, "one")
	if got := a.URL("one", "repo"); got != "s3+http://"+a.Endpoint+"/one/repo" {
		t.Fatalf("URL = %q", got)
	}
}
