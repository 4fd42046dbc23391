package backends

import "testing"

func TestInferRegion(t *testing.T) {
	for _, c := range []struct{ endpoint, want string }{
		{"s3.eu-central-003.backblazeb2.com", "eu-central-003"},
		{"s3.us-west-004.backblazeb2.com:443", "us-west-004"},
		{"s3.eu-central-2.wasabisys.com", "eu-central-2"},
		{"s3.wasabisys.com", "us-east-1"},
		{"s3.eu-west-1.amazonaws.com", "eu-west-1"},
		{"s3-eu-west-1.amazonaws.com", "eu-west-1"},
		{"s3.dualstack.ap-south-1.amazonaws.com", "ap-south-1"},
		{"s3.amazonaws.com", "us-east-1"},
		{"0123abcd.r2.cloudflarestorage.com", "auto"},
		{"127.0.0.1:9000", ""},
		{"minio.example.org", ""},
		{"backblazeb2.com.evil.example", ""},
	} {
		if got := InferRegion(c.endpoint); got != c.want {
			t.Errorf("InferRegion(%q) = %q, want %q", c.endpoint, got, c.want)
		}
	}
}
