package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpArchiveToTerminal: an archive is not written to a terminal (it
// would garble it); a file's content is.
func TestDumpArchiveToTerminal(t *testing.T) {
	_, src := dumpTestRepo(t)
	term, typist := openPTY(t)
	var errb bytes.Buffer
	code := execute(t.Context(), []string{"dump", "latest", src}, strings.NewReader(""), term, &errb)
	if code != exitError || !strings.Contains(errb.String(), "standard output is a terminal") {
		t.Errorf("dump of a directory to a terminal: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	code = execute(t.Context(), []string{"dump", "latest", filepath.Join(src, "docs", "hello.txt")}, strings.NewReader(""), term, &errb)
	if code != 0 {
		t.Fatalf("dump of a file to a terminal: exit %d, %q", code, errb.String())
	}
	term.Close()
	got, _ := io.ReadAll(typist)
	if !strings.Contains(string(got), "hello, cairn") {
		t.Errorf("the terminal shows %q", got)
	}
}
