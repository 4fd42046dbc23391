package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/term"
)

// app is what every command shares: the I/O streams, the layered settings
// and the parsed config file. There is one per root command and nothing is
// global, so tests run commands in-process side by side.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// v layers the global settings: flags > environment > config file >
	// defaults. Every key is bound explicitly (no AutomaticEnv), so no
	// unrelated variable can leak in.
	v     *viper.Viper
	flags *pflag.FlagSet // the root's persistent flags
	// config is the parsed config file, loaded on first use by
	// loadConfig; configLoaded records that it was attempted.
	config       *fileConfig
	configLoaded bool
	// retries counts retried storage requests for the summaries.
	retries retryCounter
	// rates are the upload and download limiters, one per process (see
	// settings.go), so that every store a command opens shares them.
	rates rateLimits
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, v: viper.New()}
}

// setting is one global option: its viper key (also the flag name and the
// config file key) and the environment variable that sets it.
type setting struct {
	key, env string
}

// globalSettings lists the settings bound to flags, environment and config
// file. Secrets (CAIRN_PASSWORD) are deliberately not here: they never go
// through viper, so they cannot show up in a settings dump or in --help.
func globalSettings() []setting {
	return []setting{
		{"repo", "CAIRN_REPOSITORY"},
		{"password-file", "CAIRN_PASSWORD_FILE"},
		{"password-command", "CAIRN_PASSWORD_COMMAND"},
		{"cache-dir", "CAIRN_CACHE_DIR"},
		{"no-cache", "CAIRN_NO_CACHE"},
		{"cache-max-size", "CAIRN_CACHE_MAX_SIZE"},
		{"connections", "CAIRN_CONNECTIONS"},
		{"limit-upload", "CAIRN_LIMIT_UPLOAD"},
		{"limit-download", "CAIRN_LIMIT_DOWNLOAD"},
		{"json", ""},
		{"quiet", ""},
		{"verbose", ""},
		{"s3-region", "CAIRN_S3_REGION"},
		{"s3-lookup", "CAIRN_S3_LOOKUP"},
		{"s3-ca-file", "CAIRN_S3_CA_FILE"},
		{"s3-storage-class", "CAIRN_S3_STORAGE_CLASS"},
		{"retry-for", "CAIRN_RETRY_FOR"},
		{"key-hint", "CAIRN_KEY_HINT"},
		{"kdf-max-memory", "CAIRN_KDF_MAX_MEMORY"},
		{"kdf-max-passes", "CAIRN_KDF_MAX_PASSES"},
	}
}

// defaultConnections is the --connections default, the repository's.
const defaultConnections = 8

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Encrypted, deduplicated backups to object storage or a directory",
		Long: `cairn backs up directories into a repository on S3-compatible object storage
or a local directory. Everything is encrypted and authenticated on this
machine before it leaves; identical data is stored once.

The repository is given by --repo (or CAIRN_REPOSITORY): a directory path,
file:///ABSOLUTE/PATH, s3://HOST[:PORT]/BUCKET[/PREFIX] or
s3+http://HOST[:PORT]/BUCKET[/PREFIX], or the name of a repository in the
config file. S3 credentials come from AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.

The passphrase comes from --password-file, --password-command,
CAIRN_PASSWORD_FILE, CAIRN_PASSWORD_COMMAND, CAIRN_PASSWORD, the config
file, or a prompt on the terminal, in that order.

Settings are taken from flags, then environment variables, then the config
file (--config, CAIRN_CONFIG, default ~/.config/cairn/config.yaml).

Exit codes: 0 ok, 1 error, 3 backup saved but some files were not read,
10 no repository, 11 could not lock or lease, 12 wrong passphrase, 13 storage
unreachable (not everything could be read), 130 interrupted.`,
		Example: `  export CAIRN_REPOSITORY=s3://s3.example.com/backups/laptop
  cairn init
  cairn backup ~/Documents
  cairn snapshots
  cairn restore latest --target /tmp/restore`,
		SilenceErrors: true, // execute prints the one error line
		SilenceUsage:  true,
		// completion is our own command, with an Example like the others.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		// Version is set by the linker in release builds.
		Version: programVersion(),
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%s: %w; see %s --help", c.CommandPath(), err, c.CommandPath())
	})

	pf := root.PersistentFlags()
	pf.StringP("repo", "r", "", "repository location or configured repository name (env CAIRN_REPOSITORY)")
	pf.String("password-file", "", "read the passphrase from this file (env CAIRN_PASSWORD_FILE)")
	pf.String("password-command", "", "run this shell command and read the passphrase from its output (env CAIRN_PASSWORD_COMMAND)")
	pf.String("cache-dir", "", "local cache directory (env CAIRN_CACHE_DIR; default $XDG_CACHE_HOME/cairn or ~/.cache/cairn)")
	pf.Bool("no-cache", false, "do not use a local cache")
	pf.String("cache-max-size", "512MiB", "largest size of a repository's cached tree packs, e.g. 2GiB (env CAIRN_CACHE_MAX_SIZE)")
	pf.Int("connections", defaultConnections, "concurrent storage requests (env CAIRN_CONNECTIONS)")
	pf.Int("limit-upload", 0, "upload at most this many KiB/s, all connections together; 0 means no limit (env CAIRN_LIMIT_UPLOAD)")
	pf.Int("limit-download", 0, "download at most this many KiB/s, all connections together; 0 means no limit (env CAIRN_LIMIT_DOWNLOAD)")
	pf.Bool("json", false, "print machine-readable JSON on stdout")
	pf.BoolP("quiet", "q", false, "print only errors and requested data")
	pf.CountP("verbose", "v", "print more detail; -vv: even more (backup: -v lists new and changed files, -vv every entry with its status)")
	pf.String("config", "", "config file (env CAIRN_CONFIG; default ~/.config/cairn/config.yaml if it exists)")
	pf.String("s3-region", "", "S3 region (env CAIRN_S3_REGION; default: ask the server)")
	pf.String("s3-lookup", "auto", "S3 bucket addressing: auto, path or virtual (env CAIRN_S3_LOOKUP)")
	pf.String("s3-ca-file", "", "PEM file of extra certificate authorities for S3 over HTTPS (env CAIRN_S3_CA_FILE)")
	pf.String("s3-storage-class", "", "S3 storage class for data packs, e.g. STANDARD_IA; other objects use the bucket default (env CAIRN_S3_STORAGE_CLASS)")
	pf.Duration("retry-for", retry.DefaultRetryFor, "how long to keep retrying a failing S3 request (throttling, 5xx, resets) before giving up (env CAIRN_RETRY_FOR)")
	pf.String("key-hint", "", "try this key file first: its ID or the first hex digits of it, from cairn key list (env CAIRN_KEY_HINT)")
	pf.Uint32("kdf-max-memory", crypto.DefaultKDFLimits().MemoryKiB>>10, "largest key-derivation memory, in MiB, that a key file may ask for before cairn runs it (env CAIRN_KDF_MAX_MEMORY)")
	pf.Uint32("kdf-max-passes", crypto.DefaultKDFLimits().Time, "most key-derivation passes a key file may ask for before cairn runs it (env CAIRN_KDF_MAX_PASSES)")
	a.flags = pf
	for _, s := range globalSettings() {
		if err := a.v.BindPFlag(s.key, pf.Lookup(s.key)); err != nil {
			panic("bind flag " + s.key + ": " + err.Error()) // a typo in this file
		}
		if s.env != "" {
			if err := a.v.BindEnv(s.key, s.env); err != nil {
				panic("bind env " + s.env + ": " + err.Error())
			}
		}
	}

	// Every command is listed here, explicitly.
	root.AddCommand(
		newInitCommand(a),
		newBackupCommand(a),
		newSnapshotsCommand(a),
		newLsCommand(a),
		newDiffCommand(a),
		newFindCommand(a),
		newRestoreCommand(a),
		newDumpCommand(a),
		newMountCommand(a),
		newVerifyCommand(a),
		newForgetCommand(a),
		newPruneCommand(a),
		newCheckCommand(a),
		newRepairCommand(a),
		newUnlockCommand(a),
		newRunCommand(a),
		newScheduleCommand(a),
		newConfigCommand(a),
		newKeyCommand(a),
		newCatCommand(a),
		newCopyCommand(a),
		newStatsCommand(a),
		newTagCommand(a),
		newCacheCommand(a),
		newCompletionCommand(a),
		newManCommand(a),
		newVersionCommand(a),
	)
	return root
}

// programVersion is the module version when built with go install, else
// "devel".
func programVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// isTerminal reports whether s is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
