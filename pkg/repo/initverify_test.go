package repo

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// TestInitCatchesDamagingStorage plays a server that stores something else
// than it was sent (Corrupt flips a byte of what reads return, as a server
// that kept aws-chunked framing would): init must fail, naming the object,
// instead of leaving a repository whose next command says "wrong
// passphrase".
func TestInitCatchesDamagingStorage(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string
	}{
		{"keys/", "did not store the key file as sent"},
		{"config", "did not store the config as sent"},
	} {
		f := fault.New(mem.New())
		f.Corrupt(tc.prefix, 10)
		_, err := Init(context.Background(), f, testPass, testInitOptions())
		if err == nil {
			t.Errorf("Init with %s damaged by the storage succeeded", tc.prefix)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("Init with %s damaged: %v; want %q wrapping ErrCorrupt", tc.prefix, err, tc.want)
		}
	}
}

// TestInitReadBackFailureIsNotDamage: a read-back the storage does not
// deliver is reported as a storage failure, not as damage.
func TestInitReadBackFailureIsNotDamage(t *testing.T) {
	f := fault.New(mem.New())
	// The first Get is the read-back of the key file.
	f.Add(fault.Rule{Op: fault.OpGet, Nth: 1, Err: storage.ErrTransient})
	_, err := Init(context.Background(), f, testPass, testInitOptions())
	if !errors.Is(err, storage.ErrTransient) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "read back keys/") {
		t.Errorf("Init with the read-back failing: %v; want a transient storage error naming the key file", err)
	}
}
