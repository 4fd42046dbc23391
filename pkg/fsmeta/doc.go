// Package fsmeta reads file-system metadata into snapshot nodes and applies
// it to restored files.
package fsmeta
