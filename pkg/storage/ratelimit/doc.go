// Package ratelimit wraps a store so that object bodies move no faster than
// a given number of bytes per second, upload and download separately
// (cairn's --limit-upload and --limit-download, restic's names). A backup
// over a home connection should not take all of it.
//
// One Limiter per direction is shared by every store and every connection
// of the process: the limit is what the user sees on the wire, not a
// per-request cap that eight connections multiply by eight. The token
// bucket is golang.org/x/time/rate; its burst is one second's worth of the
// rate, at least 64 KiB, so that small reads are not each made to wait and
// the average holds over any stretch longer than a second.
//
// Only bodies are counted: the bytes of Put and the bytes read from a Get.
// Stat, List and Delete carry a few hundred bytes and are left alone, so a
// throttled backup still lists and checks promptly. Put takes a byte slice,
// not a reader, so the decorator pays for its bytes before handing them
// on: the upload then leaves at full speed, and the next one waits. Over
// a pack or two that is the asked-for rate. A read pays for what it got
// after getting it, so a reader never waits for bytes it will not receive.
//
// Every wait honours the context: a cancelled ctx (Ctrl-C) returns from a
// throttled Put or Read at once with ctx.Err(), and the tokens it had
// reserved go back to the bucket.
//
// The decorator keeps every optional capability of the wrapped store
// (storage.Forward) and unwraps to it, so storage.AsVersioner finds a
// versioned bucket beneath it; version reads, used only by repair, are not
// throttled.
package ratelimit
