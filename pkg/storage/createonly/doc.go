// Package createonly wraps a store so that it behaves like storage reached
// with append-only credentials: objects can be created, read and listed,
// never replaced or deleted. It is what tests use to play the attacker who
// holds a passphrase but only create-only access, and the honest backup
// client that runs with such credentials.
package createonly
