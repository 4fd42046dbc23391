package repo

import (
	"context"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// PackTimes returns the server's modification time of every pack, for
// prune --min-pack-age (providers such as Wasabi bill a minimum storage
// duration, so deleting or repacking a young pack saves nothing).
func (r *Repository) PackTimes(ctx context.Context) (map[crypto.ID]time.Time, error) {
	out := make(map[crypto.ID]time.Time)
	err := r.store.List(ctx, "data/", func(oi storage.ObjectInfo) error {
		if id, ok := parsePackName(oi.Name); ok {
			out[id] = oi.ModTime
		}
		return nil
	})
	return out, err
}
