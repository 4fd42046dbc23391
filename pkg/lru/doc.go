// Package lru is an in-memory cache bounded by the summed cost of its
// values (usually bytes), least recently used out. cairn keeps decoded
// trees and blobs in it where it reads the same ones again soon: the
// FUSE mount's directory runs and file blobs, and restore's recently
// delivered blobs, which duplicate files far apart in a snapshot need
// again after their pack was fetched. A cost-bounded cache keeps memory
// flat however large the snapshot; counting entries would not.
package lru
