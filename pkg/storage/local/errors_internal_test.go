package local

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func TestErrorTranslation(t *testing.T) {
	s := &Store{root: t.TempDir()}
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "open", Path: "/repo/data/x", Err: errno}
	}
	tests := []struct {
		err      error
		sentinel error
		text     string
	}{
		{pathErr(syscall.ENOENT), storage.ErrNotFound, "no such file"},
		{pathErr(syscall.ENOTDIR), storage.ErrNotFound, "not a directory"},
		{pathErr(syscall.EACCES), storage.ErrPermission, "permission denied"},
		{pathErr(syscall.EPERM), storage.ErrPermission, "not permitted"},
		{pathErr(syscall.EROFS), storage.ErrPermission, "read-only file system"},
		{pathErr(syscall.ENOSPC), syscall.ENOSPC, "disk full"},
		{pathErr(syscall.EDQUOT), syscall.EDQUOT, "quota"},
		{pathErr(syscall.EIO), syscall.EIO, "input/output error"},
	}
	for _, tc := range tests {
		err := s.readErr("get", "data/x", tc.err)
		if !errors.Is(err, tc.sentinel) {
			t.Errorf("readErr(%v) = %v, want it to wrap %v", tc.err, err, tc.sentinel)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("readErr(%v) = %v, does not wrap the original error", tc.err, err)
		}
		if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "data/x") {
			t.Errorf("readErr(%v) = %q, want it to mention %q and the object", tc.err, err, tc.text)
		}
	}
}

func TestListPruning(t *testing.T) {
	dirs := []struct {
		prefix, start string
	}{
		{"", ""},
		{"data", ""},
		{"data/", "data"},
		{"data/ab", "data"},
		{"data/ab/", "data/ab"},
		{"data/ab/abc", "data/ab"},
	}
	for _, tc := range dirs {
		if got := prefixDir(tc.prefix); got != tc.start {
			t.Errorf("prefixDir(%q) = %q, want %q", tc.prefix, got, tc.start)
		}
	}
	matches := []struct {
		dir, prefix string
		want        bool
	}{
		{"data", "", true},
		{"data", "data", true},
		{"data", "da", true},
		{"data2", "data/", false},
		{"data", "data/ab", true},
		{"data/ab", "data/ab", true},
		{"data/ab", "data/a", true},
		{"data/ac", "data/ab", false},
		{"data/a", "data/ab", false},
		{"data/ab", "data/ab/abc", true},
		{"index", "data/", false},
	}
	for _, tc := range matches {
		if got := dirMayMatch(tc.dir, tc.prefix); got != tc.want {
			t.Errorf("dirMayMatch(%q, %q) = %v, want %v", tc.dir, tc.prefix, got, tc.want)
		}
	}
}
