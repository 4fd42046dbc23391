package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

// sourceOptions are the backup flags that say where the paths, or the
// data, come from: --files-from* lists and --stdin* (restic's names and
// rules).
type sourceOptions struct {
	filesFrom         []string // one pattern a line; blank lines and # comments ignored
	filesFromVerbatim []string // one path a line, taken literally
	filesFromRaw      []string // NUL-separated paths (find -print0)

	stdin            bool
	stdinFilename    string
	stdinFromCommand bool
}

func (o *sourceOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.filesFrom, "files-from", nil, "read the paths to back up from this file, one glob pattern a line; blank lines and lines starting with # are ignored; - is stdin (repeatable)")
	fs.StringArrayVar(&o.filesFromVerbatim, "files-from-verbatim", nil, "read the paths to back up from this file, one a line, taken literally (no globs, no comments); - is stdin (repeatable)")
	fs.StringArrayVar(&o.filesFromRaw, "files-from-raw", nil, "read NUL-separated paths to back up from this file, as find -print0 writes them; - is stdin (repeatable)")
	fs.BoolVar(&o.stdin, "stdin", false, "back up standard input as one file (see --stdin-filename)")
	fs.StringVar(&o.stdinFilename, "stdin-filename", "", `file name for --stdin or --stdin-from-command, stored at the snapshot root (default "stdin")`)
	fs.BoolVar(&o.stdinFromCommand, "stdin-from-command", false, "run the command given after -- and back up its standard output as one file; if it fails, no snapshot is saved")
}

// stdinMode reports whether the backup reads a stream rather than paths.
func (o *sourceOptions) stdinMode() bool { return o.stdin || o.stdinFromCommand }

// check rejects flag combinations that cannot mean what the user wants.
func (o *sourceOptions) check(args []string) error {
	lists := len(o.filesFrom) + len(o.filesFromVerbatim) + len(o.filesFromRaw)
	switch {
	case o.stdinFilename != "" && !o.stdinMode():
		return errors.New("--stdin-filename needs --stdin or --stdin-from-command")
	case o.stdinMode() && lists > 0:
		return errors.New("--stdin and --stdin-from-command back up one stream: they cannot be combined with --files-from*")
	case o.stdinFromCommand && len(args) == 0:
		return errors.New("--stdin-from-command needs the command after --, e.g. cairn backup --stdin-from-command -- pg_dump mydb")
	case o.stdin && !o.stdinFromCommand && len(args) > 0:
		return fmt.Errorf("--stdin backs up standard input and takes no paths (got %q)", args[0])
	case !o.stdinMode() && lists == 0 && len(args) == 0:
		return errors.New("nothing to back up: give at least one path, --files-from FILE or --stdin")
	}
	dash := 0
	for _, list := range [][]string{o.filesFrom, o.filesFromVerbatim, o.filesFromRaw} {
		for _, f := range list {
			if f == "-" {
				dash++
			}
		}
	}
	if dash > 1 {
		return errors.New("standard input can be read only once: give - to one --files-from* flag")
	}
	return nil
}

// paths returns the paths to back up: args, then the paths read from the
// lists, in the order given. stdin is read for a list named "-". warn is
// told about --files-from patterns that match nothing (restic skips them
// too).
func (o *sourceOptions) paths(stdin io.Reader, args []string, warn func(string)) ([]string, error) {
	out := append([]string(nil), args...)
	for _, name := range o.filesFrom {
		data, err := readList(stdin, name)
		if err != nil {
			return nil, fmt.Errorf("--files-from %s: %w", name, err)
		}
		for _, line := range splitLines(data) {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			matches, err := filepath.Glob(line)
			if err != nil {
				return nil, fmt.Errorf("--files-from %s: pattern %q: %w (use --files-from-verbatim for literal names)", name, line, err)
			}
			if len(matches) == 0 {
				warn(fmt.Sprintf("--files-from %s: pattern %q matches no file; skipped", name, line))
			}
			out = append(out, matches...)
		}
	}
	for _, name := range o.filesFromVerbatim {
		data, err := readList(stdin, name)
		if err != nil {
			return nil, fmt.Errorf("--files-from-verbatim %s: %w", name, err)
		}
		for _, line := range splitLines(data) {
			if line != "" {
				out = append(out, line)
			}
		}
	}
	for _, name := range o.filesFromRaw {
		data, err := readList(stdin, name)
		if err != nil {
			return nil, fmt.Errorf("--files-from-raw %s: %w", name, err)
		}
		for p := range bytes.SplitSeq(data, []byte{0}) {
			if len(p) > 0 { // the terminator after the last name
				out = append(out, string(p))
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to back up: the --files-from lists name no path")
	}
	return out, nil
}

// readList reads a list file, or stdin for "-".
func readList(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	path, err := expandHome(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// splitLines splits at "\n" only: a verbatim line keeps every other byte,
// "\r" and leading spaces included.
func splitLines(data []byte) []string { return strings.Split(string(data), "\n") }
