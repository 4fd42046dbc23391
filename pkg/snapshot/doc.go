// Package snapshot defines snapshots and the trees they point to.
package snapshot
