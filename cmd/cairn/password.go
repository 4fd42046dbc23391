package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/term"
)

// passwordSource is where a passphrase comes from; name says so in
// messages, never the passphrase itself.
type passwordSource struct {
	name    string // e.g. "--password-file", "CAIRN_PASSWORD"
	file    string
	command string
	literal []byte
}

// passwordSource picks the passphrase source, by precedence: the
// --password-file and --password-command flags; the CAIRN_PASSWORD_FILE,
// CAIRN_PASSWORD_COMMAND and CAIRN_PASSWORD variables; the repository's
// entry in the config file; the config file's top level. At most one source
// may be given at each level. nil means none: prompt on a terminal.
func (a *app) passwordSource(s *settings) (*passwordSource, error) {
	var flags []passwordSource
	if a.flags.Changed("password-file") {
		f, _ := a.flags.GetString("password-file")
		flags = append(flags, passwordSource{name: "--password-file", file: f})
	}
	if a.flags.Changed("password-command") {
		c, _ := a.flags.GetString("password-command")
		flags = append(flags, passwordSource{name: "--password-command", command: c})
	}
	var env []passwordSource
	if f, ok := os.LookupEnv("CAIRN_PASSWORD_FILE"); ok && f != "" {
		env = append(env, passwordSource{name: "CAIRN_PASSWORD_FILE", file: f})
	}
	if c, ok := os.LookupEnv("CAIRN_PASSWORD_COMMAND"); ok && c != "" {
		env = append(env, passwordSource{name: "CAIRN_PASSWORD_COMMAND", command: c})
	}
	if p, ok := os.LookupEnv("CAIRN_PASSWORD"); ok && p != "" {
		env = append(env, passwordSource{name: "CAIRN_PASSWORD", literal: []byte(p)})
	}
	var named, top []passwordSource
	if rc := s.repository; rc != nil {
		where := fmt.Sprintf("repositories.%s", s.repoName)
		if rc.PasswordFile != "" {
			named = append(named, passwordSource{name: where + ".password-file", file: rc.PasswordFile})
		}
		if rc.PasswordCommand != "" {
			named = append(named, passwordSource{name: where + ".password-command", command: rc.PasswordCommand})
		}
	}
	if cfg := a.config; cfg != nil {
		if cfg.PasswordFile != "" {
			top = append(top, passwordSource{name: "password-file in the config file", file: cfg.PasswordFile})
		}
		if cfg.PasswordCommand != "" {
			top = append(top, passwordSource{name: "password-command in the config file", command: cfg.PasswordCommand})
		}
	}
	for _, level := range [][]passwordSource{flags, env, named, top} {
		switch len(level) {
		case 0:
			continue
		case 1:
			return &level[0], nil
		}
		return nil, fmt.Errorf("both %s and %s give a passphrase; keep only one", level[0].name, level[1].name)
	}
	return nil, nil
}

// passphrase reads the passphrase of the repository of s. Without any
// configured source it prompts on the terminal (twice when confirm is
// set, as for a new repository).
func (a *app) passphrase(ctx context.Context, s *settings, confirm bool) ([]byte, error) {
	src, err := a.passwordSource(s)
	if err != nil {
		return nil, err
	}
	if src == nil {
		if !isTerminal(a.stdin) {
			return nil, errors.New("no passphrase: set CAIRN_PASSWORD, CAIRN_PASSWORD_FILE or CAIRN_PASSWORD_COMMAND, " +
				"use --password-file, or run cairn on a terminal to be asked")
		}
		return a.prompt("Passphrase for "+s.location(), confirm)
	}
	return src.read(ctx, a, s.extraEnv)
}

// read returns the passphrase from the source.
func (p *passwordSource) read(ctx context.Context, a *app, env map[string]string) ([]byte, error) {
	var pw []byte
	switch {
	case p.literal != nil:
		pw = p.literal
	case p.file != "":
		path, err := expandHome(p.file)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read passphrase (%s): %w", p.name, err)
		}
		pw = trimNewline(data)
	default:
		out, err := runPasswordCommand(ctx, a, p.command, env)
		if err != nil {
			return nil, fmt.Errorf("passphrase command (%s) failed: %w; run it by hand to see why", p.name, err)
		}
		pw = out
	}
	if len(pw) == 0 {
		return nil, fmt.Errorf("the passphrase from %s is empty; check it", p.name)
	}
	return pw, nil
}

// runPasswordCommand runs command with sh -c and returns its stdout less
// one trailing newline. Its stderr goes to ours (prompts, errors); its
// environment is ours plus the repository's env map.
func runPasswordCommand(ctx context.Context, a *app, command string, env map[string]string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	// Variables of the repository's env map override ours.
	cmd.Env = os.Environ()
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stdin = a.stdin
	cmd.Stderr = a.stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return trimNewline(out.Bytes()), nil
}

// trimNewline drops one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// prompt asks for a passphrase on the terminal without echo; with confirm
// it asks twice and insists that both match.
func (a *app) prompt(what string, confirm bool) ([]byte, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("cannot ask for a passphrase: standard input is not a terminal")
	}
	fmt.Fprintf(a.stderr, "%s: ", what)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		fmt.Fprint(a.stderr, "Enter it again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passphrases do not match; try again")
		}
	}
	return pw, nil
}

// newPassphrase reads a new passphrase (for key add and key passwd) from
// file, or asks twice on the terminal.
func (a *app) newPassphrase(file string) ([]byte, error) {
	if file != "" {
		src := passwordSource{name: "--new-password-file", file: file}
		return src.read(context.Background(), a, nil)
	}
	if !isTerminal(a.stdin) {
		return nil, errors.New("no new passphrase: give --new-password-file FILE, or run on a terminal to be asked")
	}
	return a.prompt("New passphrase", true)
}
