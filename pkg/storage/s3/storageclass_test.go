package s3

import (
	"context"
	"strings"
	"testing"
)

func TestNormalizeStorageClass(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"", "", ""},
		{"  ", "", ""},
		{"STANDARD_IA", "STANDARD_IA", ""},
		{"onezone_ia", "ONEZONE_IA", ""},
		{"Glacier_IR", "GLACIER_IR", ""},
		{"INTELLIGENT_TIERING", "INTELLIGENT_TIERING", ""},
		{"GLACIER", "", "until cold storage is supported"},
		{"deep_archive", "", "until cold storage is supported"},
		{"COLD", "", "unknown"},
		{"STANDARD IA", "", "unknown"},
	}
	for _, tc := range tests {
		got, err := normalizeStorageClass(tc.in)
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("normalizeStorageClass(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("normalizeStorageClass(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.wantErr)
		}
	}
	// The refusal of an archive class names the classes to use instead,
	// and the refusal of an unknown word lists the known ones.
	_, err := normalizeStorageClass("GLACIER")
	if err == nil || !strings.Contains(err.Error(), "STANDARD_IA or ONEZONE_IA") {
		t.Errorf("GLACIER refused with %v; want the alternatives named", err)
	}
	_, err = normalizeStorageClass("COLD")
	if err == nil || !strings.Contains(err.Error(), "STANDARD_IA, ONEZONE_IA") {
		t.Errorf("COLD refused with %v; want the known classes listed", err)
	}
}

func TestNewRefusesStorageClass(t *testing.T) {
	for _, class := range []string{"GLACIER", "DEEP_ARCHIVE", "FROZEN"} {
		_, err := New(context.Background(), Config{Endpoint: "s3.example.com", Bucket: "bucket",
			AccessKey: "k", SecretKey: "s", StorageClass: class})
		if err == nil {
			t.Errorf("New with storage class %s succeeded; want it refused", class)
		}
	}
}

func TestStorageClassForDataPacksOnly(t *testing.T) {
	s, err := New(context.Background(), Config{Endpoint: "s3.example.com", Bucket: "bucket",
		AccessKey: "k", SecretKey: "s", StorageClass: "standard_ia"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"data/ab/ab12cd":     "STANDARD_IA",
		"config":             "",
		"keys/0123":          "",
		"index/0123":         "",
		"snapshots/0123":     "",
		"leases/0123":        "",
		"deleted/0123":       "",
		"forgotten/0123":     "",
		"database/something": "",
	} {
		if got := s.storageClassFor(name); got != want {
			t.Errorf("storageClassFor(%q) = %q, want %q", name, got, want)
		}
	}
}
