// Package rollback catches a store that hides snapshots or serves an older
// copy of the repository. Every object is authenticated, so the storage
// cannot forge or alter a snapshot, but it can leave one out of a listing,
// or answer with yesterday's bucket; nothing inside the repository can
// prove an absence. So each client remembers, per repository and outside
// the cache (which may be wiped at any time), the snapshots it has seen and
// the newest snapshot time per host. A snapshot it has seen that is gone,
// with no forgotten record (written by `cairn forget` on whichever client
// removed it) vouching for the removal, is reported by every command that
// lists snapshots, and makes `cairn check` fail.
//
// This is tamper evidence from one client's point of view: a client that
// never saw a snapshot cannot miss it. Several clients of one repository
// each keep their own memory, so together they see more.
package rollback
