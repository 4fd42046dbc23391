// Package state keeps the little a client learns about each repository it
// uses and wants to know next time, in $XDG_STATE_HOME/cairn/<repository
// ID>/ (default ~/.local/state/cairn).
//
// It is not the cache. The cache (the index cache under
// $XDG_CACHE_HOME/cairn) holds copies of what the repository stores and can
// be deleted at any time: it is rebuilt from the repository. State holds
// what the repository cannot tell a client, because anyone who may create
// objects there could tell it otherwise: which key file is this client's
// (so that planted key files are not even tried first), and, later, which
// snapshot IDs this client has seen (so that a server hiding or replaying
// snapshots can be noticed). Losing it costs a slower open or a weaker
// check, never data; but it must not be swept away with the cache, and
// cache-cleaning tools leave $XDG_STATE_HOME alone.
//
// Each fact is one small file in the repository's directory, written
// atomically (a temporary file renamed over the old one), so a client
// killed mid-write leaves the old fact or the new one. A fact that cannot
// be read is treated as unknown. Directories are named by the repository
// ID from the authenticated config, so two repositories never share state
// and a location that is re-initialised starts afresh.
package state
