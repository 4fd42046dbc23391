package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	snapcopy "github.com/cairn-backup/cairn/pkg/copy"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// fromOptions name a second repository, the source of cairn copy and of
// init --copy-chunker-params-from, with its own passphrase, key hint and
// S3 credentials (CAIRN_FROM_* variables, as restic's RESTIC_FROM_*).
type fromOptions struct {
	repo            string
	passwordFile    string
	passwordCommand string
	keyHint         string
	s3Region        string
}

// addFromFlags adds the flags of the source repository except the one
// naming it, whose name differs between commands.
func (o *fromOptions) addFromFlags(f *pflag.FlagSet) {
	f.StringVar(&o.passwordFile, "from-password-file", "", "read the source repository's passphrase from this file (env CAIRN_FROM_PASSWORD_FILE)")
	f.StringVar(&o.passwordCommand, "from-password-command", "", "run this shell command for the source repository's passphrase (env CAIRN_FROM_PASSWORD_COMMAND)")
	f.StringVar(&o.keyHint, "from-key-hint", "", "try this key file of the source repository first (env CAIRN_FROM_KEY_HINT)")
	f.StringVar(&o.s3Region, "from-s3-region", "", "S3 region of the source repository (env CAIRN_FROM_S3_REGION; default: ask the server)")
}

// orEnv is v, or the environment variable name when v is "".
func orEnv(v, name string) string {
	if v != "" {
		return v
	}
	return os.Getenv(name)
}

// fromSettings resolves the source repository: a configured repository by
// name (its URL, env map and passphrase settings), or a location. The
// destination's own --repo entry, region and key hint are not carried
// over; the cache, connections and retry settings are.
func (a *app) fromSettings(o fromOptions) (*settings, error) {
	loc := strings.TrimSpace(orEnv(o.repo, "CAIRN_FROM_REPOSITORY"))
	if loc == "" {
		return nil, errors.New("no source repository: give --from-repo (or CAIRN_FROM_REPOSITORY)")
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	var s *settings
	if _, ok := cfg.Repositories[loc]; ok && !strings.ContainsAny(loc, `/\:`) {
		if s, err = a.resolveFor(loc); err != nil {
			return nil, err
		}
	} else {
		if s, err = a.resolve(); err != nil {
			return nil, err
		}
		s.repoURL, s.repoName, s.repository, s.extraEnv = loc, "", nil, nil
	}
	s.backend.Region = orEnv(o.s3Region, "CAIRN_FROM_S3_REGION")
	s.backend.StorageClass = "" // nothing is written to the source
	for _, c := range []struct {
		dst  *string
		name string
	}{
		{&s.backend.AccessKey, "AWS_ACCESS_KEY_ID"},
		{&s.backend.SecretKey, "AWS_SECRET_ACCESS_KEY"},
		{&s.backend.SessionToken, "AWS_SESSION_TOKEN"},
	} {
		*c.dst = s.getenv(c.name)
		if v := os.Getenv("CAIRN_FROM_" + c.name); v != "" {
			*c.dst = v
		}
	}
	return s, nil
}

// fromPassphrase reads the source's passphrase: --from-password-file,
// --from-password-command, CAIRN_FROM_PASSWORD_FILE,
// CAIRN_FROM_PASSWORD_COMMAND, CAIRN_FROM_PASSWORD, the configured
// repository's own settings, or a prompt. The destination's passphrase
// settings never apply to it.
func (a *app) fromPassphrase(ctx context.Context, s *settings, o fromOptions) ([]byte, error) {
	var srcs []passwordSource
	levels := [][]passwordSource{
		{{name: "--from-password-file", file: o.passwordFile}, {name: "--from-password-command", command: o.passwordCommand}},
		{{name: "CAIRN_FROM_PASSWORD_FILE", file: os.Getenv("CAIRN_FROM_PASSWORD_FILE")},
			{name: "CAIRN_FROM_PASSWORD_COMMAND", command: os.Getenv("CAIRN_FROM_PASSWORD_COMMAND")}},
	}
	if p := os.Getenv("CAIRN_FROM_PASSWORD"); p != "" {
		levels[1] = append(levels[1], passwordSource{name: "CAIRN_FROM_PASSWORD", literal: []byte(p)})
	}
	if rc := s.repository; rc != nil {
		where := "repositories." + s.repoName
		levels = append(levels, []passwordSource{{name: where + ".password-file", file: rc.PasswordFile},
			{name: where + ".password-command", command: rc.PasswordCommand}})
	}
	for _, level := range levels {
		srcs = srcs[:0]
		for _, p := range level {
			if p.file != "" || p.command != "" || p.literal != nil {
				srcs = append(srcs, p)
			}
		}
		switch len(srcs) {
		case 0:
			continue
		case 1:
			return srcs[0].read(ctx, a, s.extraEnv)
		}
		return nil, fmt.Errorf("both %s and %s give the source's passphrase; keep only one", srcs[0].name, srcs[1].name)
	}
	if !isTerminal(a.stdin) {
		return nil, errors.New("no passphrase for the source repository: set CAIRN_FROM_PASSWORD, CAIRN_FROM_PASSWORD_FILE or " +
			"CAIRN_FROM_PASSWORD_COMMAND, use --from-password-file, or run cairn on a terminal to be asked")
	}
	return a.prompt("Passphrase for the source repository "+s.location(), false)
}

// openFromRepository opens the source repository o names.
func (a *app) openFromRepository(ctx context.Context, o fromOptions) (*repo.Repository, *settings, func(), error) {
	s, err := a.fromSettings(o)
	if err != nil {
		return nil, nil, nil, err
	}
	r, done, err := a.openWith(ctx, s, "source repository", func() ([]byte, error) { return a.fromPassphrase(ctx, s, o) },
		func(opts *repo.OpenOptions) { opts.KeyHint = orEnv(o.keyHint, "CAIRN_FROM_KEY_HINT") })
	return r, s, done, err
}

type copyOptions struct {
	from   fromOptions
	filter snapshotFilter
	dryRun bool
}

func newCopyCommand(a *app) *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use:   "copy [SNAPSHOT...] --from-repo SOURCE",
		Short: "Copy snapshots from another repository into this one",
		Long: `Copy snapshots from the repository --from-repo into --repo: all of them, the
ones given by ID (or "latest"), or those --host, --tag and --path select.

A snapshot already copied is skipped: every copy records the ID of the
snapshot it was made from ("original"), so copy can run after every backup
and copies only what is new. Retagging a snapshot on either side does not
make it copy again.

When the destination was made with cairn init --copy-chunker-params-from
SOURCE, both chunk and name data alike: blobs move as they are, only those
the destination lacks are downloaded, and nothing is re-chunked. Otherwise
every file is read and re-chunked for the destination (slower; the result
is the same).

Backups into either repository may run at the same time. A snapshot whose
data cannot be read from the source (damaged or missing) is not copied and
the error names the blob and file; the others are, and copy exits 1.

The source's passphrase comes from --from-password-file,
--from-password-command, CAIRN_FROM_PASSWORD_FILE,
CAIRN_FROM_PASSWORD_COMMAND or CAIRN_FROM_PASSWORD (or a prompt), its S3
credentials from CAIRN_FROM_AWS_ACCESS_KEY_ID, CAIRN_FROM_AWS_SECRET_ACCESS_KEY
and CAIRN_FROM_AWS_SESSION_TOKEN, else from the AWS_* variables. --from-repo
may name a repository in the config file, whose settings then apply.`,
		Example: `  cairn copy --from-repo /media/usb/cairn --repo s3://s3.example.com/backups/laptop
  cairn copy --from-repo usb --from-password-file ~/.usb-pass --host laptop
  cairn copy --from-repo /media/usb/cairn 3f2a91c0 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runCopy(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from.repo, "from-repo", "", "the repository to copy from (env CAIRN_FROM_REPOSITORY)")
	o.from.addFromFlags(f)
	o.filter.addFlags(f)
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "list what would be copied, copy nothing")
	return cmd
}

// copyJSON is the --json summary of copy, after its status lines.
type copyJSON struct {
	MessageType string            `json:"message_type"` // "summary"
	DryRun      bool              `json:"dry_run"`
	Mode        snapcopy.Mode     `json:"mode"`
	Copied      []copiedJSON      `json:"copied"`
	Skipped     []copiedJSON      `json:"skipped"`
	Pending     []string          `json:"pending,omitempty"`
	Failed      []copyFailureJSON `json:"failed,omitempty"`
	Total       snapcopy.Counts   `json:"total"`
}

type copiedJSON struct {
	Source string `json:"source"`
	Dest   string `json:"destination"`
}

type copyFailureJSON struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

func (a *app) runCopy(ctx context.Context, refs []string, o copyOptions) error {
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	src, srcSettings, srcDone, err := a.openFromRepository(ctx, o.from)
	if err != nil {
		return err
	}
	defer srcDone()
	dst, dstSettings, dstDone, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer dstDone()
	jsonOut := a.v.GetBool("json")
	talk := !jsonOut && !a.v.GetBool("quiet")
	opts := snapcopy.Options{Refs: refs, Filter: filter, DryRun: o.dryRun, Connections: srcSettings.connections,
		Warn: func(err error) { fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(err.Error())) }}
	p := a.newProgress()
	defer p.done()
	if talk {
		opts.Log = func(msg string) { p.printTo(a.stdout, oneLine(msg)) }
	}
	start := time.Now()
	var last snapcopy.Progress
	opts.Progress = func(cp snapcopy.Progress) {
		begins := cp.Current != last.Current && cp.Current != (crypto.ID{})
		last = cp
		p.show(copyWork(cp, time.Since(start)), "copy", begins)
	}
	res, err := snapcopy.Copy(ctx, src, dst, opts)
	p.done()
	if err != nil && ctx.Err() != nil {
		return copyInterrupted(res, last, err)
	}
	if res == nil {
		return err
	}
	if jsonOut {
		out := copyJSON{MessageType: "summary", DryRun: o.dryRun, Mode: res.Mode, Copied: []copiedJSON{}, Skipped: []copiedJSON{}, Total: res.Total}
		for _, c := range res.Copied {
			out.Copied = append(out.Copied, copiedJSON{c.Source.String(), c.Dest.String()})
		}
		for _, s := range res.Skipped {
			out.Skipped = append(out.Skipped, copiedJSON{s.Source.String(), s.Dest.String()})
		}
		out.Pending = hexIDs(res.Pending)
		for _, f := range res.Failed {
			out.Failed = append(out.Failed, copyFailureJSON{f.Source.String(), oneLine(f.Err.Error())})
		}
		if jerr := writeJSON(a.stdout, out); jerr != nil && err == nil {
			err = jerr
		}
		return err
	}
	if talk {
		how := "blobs moved as they are (same chunker)"
		if res.Mode == snapcopy.ModeRechunk {
			how = fmt.Sprintf("re-chunked %d file(s) for the destination's chunker", res.Total.FilesRechunked)
		}
		switch {
		case o.dryRun:
			fmt.Fprintf(a.stdout, "Dry run: would copy %d snapshot(s) from %s to %s; %d already there\n",
				len(res.Pending), srcSettings.location(), dstSettings.location(), len(res.Skipped))
		case len(res.Copied) == 0 && len(res.Failed) == 0:
			fmt.Fprintf(a.stdout, "Nothing to copy: the %d selected snapshot(s) are already in %s\n", len(res.Skipped), dstSettings.location())
		default:
			fmt.Fprintf(a.stdout, "Copied %d snapshot(s) from %s to %s, skipped %d already there; %s\n",
				len(res.Copied), srcSettings.location(), dstSettings.location(), len(res.Skipped), how)
			fmt.Fprintf(a.stdout, "Stored %d data and %d tree blob(s), %s new; %d data blob(s) were already there\n",
				res.Total.DataStored, res.Total.TreesStored, formatBytes(uint64(res.Total.BytesStored)), res.Total.DataDeduped)
		}
	}
	return err
}

// copyWork is the status line of a copy: snapshots done of those
// selected, the current one's packs, and the bytes read from the source.
func copyWork(cp snapcopy.Progress, elapsed time.Duration) work {
	w := work{What: "copy:", Items: uint64(cp.Snapshots), TotalItems: uint64(cp.TotalSnapshots), Unit: "snapshots",
		Bytes: uint64(cp.Bytes), Elapsed: elapsed}
	if cp.Current != (crypto.ID{}) {
		w.Current = cp.Current.String()
		w.Detail = "(" + cp.Current.Short()
		if cp.TotalPacks > 0 {
			w.Detail += fmt.Sprintf(": %d/%d packs", cp.Packs, cp.TotalPacks)
		}
		w.Detail += ")"
	}
	if cp.TotalSnapshots > 0 {
		current := 0.0
		if cp.TotalPacks > 0 {
			current = float64(cp.Packs) / float64(cp.TotalPacks)
		}
		w.Share = (float64(cp.Snapshots) + current) / float64(cp.TotalSnapshots)
	}
	return w
}

// copyInterrupted is copy's account of an interruption: every snapshot
// is committed whole or not at all, so the copied ones are complete and a
// new run skips them.
func copyInterrupted(res *snapcopy.Result, last snapcopy.Progress, err error) error {
	copied, skipped := 0, 0
	if res != nil {
		copied, skipped = len(res.Copied), len(res.Skipped)
	}
	done := fmt.Sprintf("%d snapshot(s) were copied and are complete in the destination", copied)
	if skipped > 0 {
		done += fmt.Sprintf(" (%d more were there already)", skipped)
	}
	if last.Current != (crypto.ID{}) {
		done += fmt.Sprintf("; snapshot %s was being copied and was not saved", last.Current.Short())
	}
	if left := last.TotalSnapshots - last.Snapshots; last.TotalSnapshots > 0 && left > 0 {
		done += fmt.Sprintf("; %d of the %d selected are left", left, last.TotalSnapshots)
	}
	return &interruptedError{err: err, msg: "copy interrupted: " + done +
		". Run the same command again to copy the rest: it skips the snapshots already copied and does not send again the blobs the destination has"}
}
