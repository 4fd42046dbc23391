package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

func newCatCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cat config | key ID | snapshot ID | index ID | lease ID | deletion ID | pack ID",
		Short: "Print a repository object as decrypted JSON",
		Long: `Print one repository object, decrypted and checked against its name, as
indented JSON. IDs may be unique prefixes of at least 4 hex digits (packs
need the full ID). An index is shown as its entries; a pack as its header.`,
		Example: `  cairn cat config
  cairn cat snapshot 3f2a91c0
  cairn cat index 8d1e
  cairn cat key 77ab90`,
		ValidArgs: []string{"config", "key", "snapshot", "index", "lease", "deletion", "pack"},
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && args[0] == "config":
				return nil
			case len(args) == 2 && args[0] != "config":
				return nil
			}
			return fmt.Errorf("cat: give config, or an object type and ID (for example: cairn cat snapshot 3f2a91c0)")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := ""
			if len(args) == 2 {
				id = args[1]
			}
			return a.withRepository(ctx, func(r *repo.Repository) error {
				out, err := r.CatJSON(ctx, args[0], id)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", out)
				return err
			})
		},
	}
}
