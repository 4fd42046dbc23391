package backends

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in   string
		want Location
	}{
		{"s3://host:9000/bucket/some/prefix", Location{Scheme: SchemeS3, Endpoint: "host:9000", Bucket: "bucket", Prefix: "some/prefix"}},
		{"s3://host:9000/bucket/some/prefix/", Location{Scheme: SchemeS3, Endpoint: "host:9000", Bucket: "bucket", Prefix: "some/prefix"}},
		{"s3+http://127.0.0.1:9000/b12", Location{Scheme: SchemeS3, Endpoint: "127.0.0.1:9000", Bucket: "b12", Insecure: true}},
		{"s3+http://127.0.0.1:9000/b12/", Location{Scheme: SchemeS3, Endpoint: "127.0.0.1:9000", Bucket: "b12", Insecure: true}},
		{"s3://s3.amazonaws.com/my-backups/Laptop", Location{Scheme: SchemeS3, Endpoint: "s3.amazonaws.com", Bucket: "my-backups", Prefix: "Laptop"}},
		{"S3://[::1]:9000/bucket", Location{Scheme: SchemeS3, Endpoint: "[::1]:9000", Bucket: "bucket"}},
		{"file:///x", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("/x")}},
		{"file:///srv/backup/", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("/srv/backup")}},
		{"file://localhost/srv/backup", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("/srv/backup")}},
		{"file:///with%20space", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("/with space")}},
		{"/mnt/usb/cairn", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("/mnt/usb/cairn")}},
		{"repo", Location{Scheme: SchemeLocal, Path: "repo"}},
		{"./repo/", Location{Scheme: SchemeLocal, Path: "repo"}},
		{"../backups/repo", Location{Scheme: SchemeLocal, Path: filepath.FromSlash("../backups/repo")}},
		{"weird:name", Location{Scheme: SchemeLocal, Path: "weird:name"}},
		{"C://backup", Location{Scheme: SchemeLocal, Path: filepath.Clean("C://backup")}},
	}
	for _, tc := range tests {
		got, err := ParseLocation(tc.in)
		if err != nil {
			t.Errorf("ParseLocation(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseLocation(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
		// String gives something that parses back to the same location.
		again, err := ParseLocation(got.String())
		if err != nil || again != got {
			t.Errorf("ParseLocation(%q).String() = %q, which parses to %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseLocationErrors(t *testing.T) {
	tests := []struct {
		in, wantText string
	}{
		{"", "empty repository location"},
		{"   ", "empty repository location"},
		{"s3://", "missing server host"},
		{"s3:///bucket", "missing server host"},
		{"s3://host", "missing bucket"},
		{"s3://host/", "missing bucket"},
		{"s3://host:/bucket", "empty port"},
		{"s3://host:port/bucket", "invalid port"},
		{"s3://host/Bucket", "must be lowercase"},
		{"s3://host/ab", "3-63 characters"},
		{"s3://host/-bucket", "start and end with a letter or digit"},
		{"s3://host/buck!et", "not allowed"},
		{"s3://host/bucket/a//b", "empty segment"},
		{"s3://host/bucket/a/../b", `".." segment`},
		{"s3://key:secret@host/bucket", "credentials do not belong in the URL"},
		{"s3://host/bucket?region=x", "query strings"},
		{"s3://host/bucket#frag", "fragments"},
		{"s3:host/bucket", "did you mean s3://host/bucket"},
		{"s3+http:host/bucket", "did you mean s3+http://host/bucket"},
		{"file:relative/path", "need an absolute path"},
		{"file:/abs/path", "did you mean file:///abs/path"},
		{"s3://key:secret@ho st/bucket", "credentials do not belong"},
		{"file://relative/path", "file URLs take no host"},
		{"sftp://host/path", `unsupported scheme "sftp"`},
		{"http://host/bucket", `unsupported scheme "http"`},
		{"s3://ho st/bucket", "invalid character"},
	}
	for _, tc := range tests {
		got, err := ParseLocation(tc.in)
		if err == nil {
			t.Errorf("ParseLocation(%q) = %+v, want an error", tc.in, got)
			continue
		}
		t.Logf("%q: %v", tc.in, err)
		if !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("ParseLocation(%q) error %q, want it to contain %q", tc.in, err, tc.wantText)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseLocation(%q) error %q leaks the secret", tc.in, err)
		}
	}
}
