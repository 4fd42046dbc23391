// Package backends turns a repository location given by the user into a
// storage.Store: a path or file:// URL opens a directory (package local),
// s3:// and s3+http:// URLs open an S3-compatible bucket (package s3).
//
// It is the one place that knows every backend. It cannot live in package
// storage, because the backends import storage, and it keeps command-line
// code from growing a switch over URL schemes. Backends are listed
// explicitly in Open rather than registered by init functions, so reading
// Open shows everything cairn can talk to.
//
// Parsing is separate from opening (ParseLocation) so that locations can be
// validated and shown, for example in error messages or in cairn's
// configuration, without touching the network or the disk. Parsing is
// strict: credentials inside URLs, query strings and unknown schemes are
// rejected with a message that says what to write instead, because a
// mistyped location should fail loudly rather than create a repository
// somewhere unexpected.
package backends
