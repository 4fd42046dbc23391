package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
)

func newKeyCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the passphrases (key files) of a repository",
		Long: `Every passphrase that opens the repository has its own key file. Each
person or device can have its own passphrase; removing its key revokes it.`,
		Example: `  cairn key list
  cairn key add --new-password-file ~/new-pass
  cairn key remove 3f2a91c0
  cairn key passwd`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newKeyListCommand(a), newKeyAddCommand(a), newKeyRemoveCommand(a), newKeyPasswdCommand(a))
	return cmd
}

func newKeyListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the keys; * marks the one that opened the repository",
		Example: "  cairn key list\n  cairn key list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withRepository(cmd.Context(), func(r *repo.Repository) error {
				keys, err := r.ListKeys(cmd.Context())
				if err != nil {
					return err
				}
				return a.printKeys(keys)
			})
		},
	}
}

// keyJSON is one key in key list --json.
type keyJSON struct {
	ID       string `json:"id"`
	Current  bool   `json:"current"`
	Created  string `json:"created"`
	Host     string `json:"host"`
	Username string `json:"username"`
}

func (a *app) printKeys(keys []repo.KeyInfo) error {
	if a.v.GetBool("json") {
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = keyJSON{ID: k.ID.String(), Current: k.Current, Created: k.Created.UTC().Format("2006-01-02T15:04:05Z07:00"), Host: k.Host, Username: k.Username}
		}
		return writeJSON(a.stdout, out)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, " \tID\tCreated\tHost\tUser")
	for _, k := range keys {
		mark := " "
		if k.Current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, k.ID.Short(), k.Created.Local().Format("2006-01-02 15:04:05"), k.Host, k.Username)
	}
	return tw.Flush()
}

func newKeyAddCommand(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a passphrase",
		Long: `Add a key file for a new passphrase. The new passphrase is read from
--new-password-file, or asked twice on the terminal.`,
		Example: "  cairn key add --new-password-file ~/alice-pass\n  cairn key add   # asks on the terminal",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := a.newKey(cmd.Context(), file, "key add", (*repo.Repository).AddKey)
			if err != nil {
				return err
			}
			return a.report(map[string]any{"message_type": "key_added", "id": id.String()}, "added key %s\n", id.Short())
		},
	}
	cmd.Flags().StringVar(&file, "new-password-file", "", "read the new passphrase from this file")
	return cmd
}

func newKeyRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key, revoking its passphrase",
		Long: `Remove a key file, given by its ID or a unique prefix of it (see cairn key
list). The last key cannot be removed: the repository would become
unreadable.`,
		Example: "  cairn key remove 3f2a91c0",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withRepository(ctx, func(r *repo.Repository) error {
				id, err := r.FindObject(ctx, repo.KindKey, args[0])
				if err != nil {
					return fmt.Errorf("key remove %s: %w; run cairn key list", args[0], err)
				}
				if err := r.RemoveKey(ctx, id); err != nil {
					return fmt.Errorf("key remove %s: %w", id.Short(), err)
				}
				return a.report(map[string]any{"message_type": "key_removed", "id": id.String()}, "removed key %s\n", id.Short())
			})
		},
	}
}

func newKeyPasswdCommand(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the passphrase that opened the repository",
		Long: `Replace the key that opened the repository with one for a new passphrase:
the new key is added first, then the old one is removed.`,
		Example: "  cairn key passwd --new-password-file ~/new-pass",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := a.newKey(cmd.Context(), file, "key passwd", (*repo.Repository).ChangePassphrase)
			if err != nil {
				return err
			}
			return a.report(map[string]any{"message_type": "key_changed", "id": id.String()}, "changed passphrase: new key %s\n", id.Short())
		},
	}
	cmd.Flags().StringVar(&file, "new-password-file", "", "read the new passphrase from this file")
	return cmd
}

// newKey opens the repository, reads a new passphrase from file (or asks
// for it twice on the terminal) and stores a key for it with store, which
// is AddKey or ChangePassphrase. cmd names the command in errors.
func (a *app) newKey(ctx context.Context, file, cmd string,
	store func(*repo.Repository, context.Context, []byte, crypto.KDFParams) (crypto.ID, error)) (crypto.ID, error) {
	var id crypto.ID
	err := a.withRepository(ctx, func(r *repo.Repository) error {
		pw, err := a.newPassphrase(file)
		if err != nil {
			return err
		}
		if id, err = store(r, ctx, pw, a.kdf()); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		return nil
	})
	return id, err
}

// report prints a short result: v as JSON with --json, else the formatted
// text unless --quiet.
func (a *app) report(v any, format string, args ...any) error {
	if a.v.GetBool("json") {
		return writeJSON(a.stdout, v)
	}
	if !a.v.GetBool("quiet") {
		fmt.Fprintf(a.stdout, format, args...)
	}
	return nil
}
