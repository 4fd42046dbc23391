package repo

import (
	"context"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Lease announces a running operation.
type Lease struct{}

// StartLease writes a lease.
func (r *Repository) StartLease(ctx context.Context, operation string) (*Lease, error) {
	return nil, errTodo
}

// Done writes the final lease.
func (l *Lease) Done(ctx context.Context) error { return errTodo }

// SeenDeletions lists the deletion markers seen.
func (l *Lease) SeenDeletions() []crypto.ID { return nil }
