// Package pack assembles encrypted blobs into pack files and reads them back.
//
// A pack is what cairn uploads: many blobs (compressed, encrypted chunks of
// file content, or tree blobs) concatenated, followed by an encrypted header
// that lists them and a 4-byte header length. Packing matters on object
// storage: per-request costs and latency make millions of tiny objects slow
// and expensive, while 16 MiB packs keep uploads efficient and object sizes
// uninformative. The header makes every pack self-describing, so the index
// can be rebuilt from packs alone and check can compare the two.
//
// The exact layout is in pkg/repo/FORMAT.md, section 6. This package does
// the byte layout and the per-blob sealing; it does no I/O.
package pack
