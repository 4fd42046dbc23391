package main

import "github.com/spf13/cobra"

// newRepairObjectsParent is a stand-in `cairn repair` holding only
// `repair objects`, so the command can be tested on this branch. TEMPORARY:
// when the real `cairn repair` (repair.go) is merged, delete this file and
// its line in root.go, and add newRepairObjectsCommand to the real one.
func newRepairObjectsParent(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "repair",
		Short:   "Repair a damaged repository",
		Example: "  cairn repair objects --dry-run",
	}
	cmd.AddCommand(newRepairObjectsCommand(a))
	return cmd
}
