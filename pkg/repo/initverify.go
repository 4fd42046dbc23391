package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// verifyInit reads back the key file and the config Init wrote and checks
// them against what was sent, so a server that damages uploads (one that
// stores aws-chunked framing, say) is caught by init instead of making
// the next command fail with a wrong-passphrase error.
func (r *Repository) verifyInit(ctx context.Context) error {
	keyName := ObjectName(KindKey, r.keyID)
	data, err := readLimited(ctx, r.store, keyName, maxKeyFileSize)
	if err != nil {
		return fmt.Errorf("read back %s: %w", keyName, err)
	}
	if got := crypto.Hash(data); got != r.keyID {
		return fmt.Errorf("the storage did not store the key file as sent: %s reads back as %d bytes with another hash; "+
			"the server damages uploads, check its S3 compatibility: %w", keyName, len(data), ErrCorrupt)
	}
	sealed, err := readLimited(ctx, r.store, configName, maxConfigSize)
	if err != nil {
		return fmt.Errorf("read back %s: %w", configName, err)
	}
	cfg, err := openConfig(r.keys, sealed)
	if err == nil && !sameConfig(cfg, r.cfg) {
		err = fmt.Errorf("it holds other settings: %w", ErrCorrupt)
	}
	if err != nil {
		return fmt.Errorf("the storage did not store the config as sent: %w; "+
			"the server damages uploads, check its S3 compatibility", err)
	}
	return nil
}

// sameConfig compares configs by their encoding, which is what is stored
// (time.Time values are not comparable with ==).
func sameConfig(a, b Config) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
