// Package retry is the one place where cairn retries storage operations.
//
// New wraps a storage.Store. An operation whose error wraps
// storage.ErrTransient (throttling, 5xx answers, resets, timeouts: the
// backends classify their failures at their boundary) is tried again after a
// wait; everything else, above all ErrNotFound, ErrPermission,
// ErrInvalidName, ErrNoRepository and cancellation, is returned at once.
// Backends disable their SDK's own retries so that attempts are not
// multiplied across layers and every failure passes through here.
//
// Retries are bounded by time, not by a count: an operation is retried
// until Policy.RetryFor (five minutes by default) has passed since its
// first attempt, because providers throttle for minutes (B2 and Wasabi
// answer 503 SlowDown in bursts) and a count of attempts says nothing
// about how long that covers. The waits grow exponentially from
// Policy.Base up to Policy.Max with "full jitter" (a uniform random
// duration below the ceiling), so workers that failed together do not come
// back together; a server's Retry-After lengthens a wait; and they end as
// soon as the operation's ctx is done. Every retry is reported to
// Policy.Notify. Sleep, Now and Rand are fields of the Policy, not package
// state, so tests run without real waits.
//
// A Get's body that stops delivering for Policy.StallTimeout is closed and
// the download resumed, like a reset: HTTP times only the response
// headers, so without this a silent connection would hang a restore.
//
// Every retry is safe because of how cairn stores data. Object names are
// content-addressed (the name is the hash of the content) or unique per
// writer (locks, snapshots), so a Put sent twice writes the same bytes
// twice, and a Put whose response was lost but that did succeed is simply
// repeated. Puts are whole-object and atomic, so a failed attempt leaves
// either nothing or a complete object behind, never a fragment a retry
// would have to clean up. Delete of a missing object succeeds, so a
// repeated delete is harmless. A download interrupted part-way is resumed
// at the first byte not yet read: the object cannot have changed in
// between, because content-addressed objects are never rewritten with
// different content. Listings resume after the last name delivered, which
// the ascending order of List makes exact.
package retry
