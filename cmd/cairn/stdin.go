package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pkg/archiver"
)

// stdinSource returns the stream of a --stdin or --stdin-from-command
// backup, and a function to call when the backup is over: it stops the
// command if the backup ended before reading all of its output.
func (a *app) stdinSource(ctx context.Context, args []string, o sourceOptions) (*archiver.StdinSource, func(), error) {
	if !o.stdinFromCommand {
		return &archiver.StdinSource{Name: o.stdinFilename, Reader: a.stdin}, func() {}, nil
	}
	c, err := startDump(ctx, args, a.stderr)
	if err != nil {
		return nil, nil, err
	}
	return &archiver.StdinSource{Name: o.stdinFilename, Reader: c.stdout, Wait: c.wait}, c.stop, nil
}

// dumpCommand is the command of --stdin-from-command.
type dumpCommand struct {
	cmd    *exec.Cmd
	name   string
	stdout io.ReadCloser
	tail   *tailWriter

	once sync.Once
	err  error
}

// startDump starts args with its stdout piped to the backup and its
// stderr passed through to stderr, keeping the end for the error message.
func startDump(ctx context.Context, args []string, stderr io.Writer) (*dumpCommand, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	tail := &tailWriter{max: 2048}
	cmd.Stderr = io.MultiWriter(stderr, tail)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("--stdin-from-command: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--stdin-from-command: start %s: %w", args[0], err)
	}
	return &dumpCommand{cmd: cmd, name: strings.Join(args, " "), stdout: stdout, tail: tail}, nil
}

// wait is called once the output was read to its end: the command's
// failure fails the backup.
func (c *dumpCommand) wait() error {
	c.once.Do(func() { c.err = c.describe(c.cmd.Wait()) })
	return c.err
}

// stop ends the command if the backup stopped early (its output is no
// longer read) and reaps it.
func (c *dumpCommand) stop() {
	c.once.Do(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
}

func (c *dumpCommand) describe(err error) error {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	what := err.Error()
	if errors.As(err, &exit) {
		what = fmt.Sprintf("exited with status %d", exit.ExitCode())
		if !exit.Exited() {
			what = "was killed (" + exit.String() + ")"
		}
	}
	msg := fmt.Sprintf("command %q %s, so no snapshot was saved", c.name, what)
	if t := c.tail.lastLines(3); t != "" {
		msg += "; its stderr ended with: " + t
	}
	return errors.New(msg + "; fix the command and run the backup again (the data already uploaded is reused)")
}

// tailWriter keeps the last max bytes written to it: the end of a
// command's stderr for its error message, the end of a job's log for a
// failure report.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines returns up to n last non-empty lines, joined into one.
func (t *tailWriter) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for l := range bytes.SplitSeq(t.buf, []byte{'\n'}) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
