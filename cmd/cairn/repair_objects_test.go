package main

import (
	"path/filepath"
	"testing"
)

// A local repository keeps no versions: repair objects says so and points
// at the README instead of claiming there is nothing to repair.
func TestRepairObjectsNeedsVersions(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pass")
	ok(t, "init")
	fails(t, exitError, "turn on bucket versioning", "repair", "objects", "--dry-run")
}
