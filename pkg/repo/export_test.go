package repo

import "time"

// SetLeaseTiming replaces r's clock, lease refresh interval and lease
// lifetime, for tests outside the package (which can use prune and the
// repotest fixture).
func SetLeaseTiming(r *Repository, now func() time.Time, refresh, lifetime time.Duration) {
	if now != nil {
		r.now = now
	}
	if refresh > 0 {
		r.leaseRefresh = refresh
	}
	if lifetime > 0 {
		r.leaseLifetime = lifetime
	}
}
