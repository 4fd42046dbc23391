// Package repo implements the cairn repository (FORMAT.md): keys, config,
// envelopes, packs, the index and leases on top of a storage.Store.
package repo
