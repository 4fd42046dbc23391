package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	snapcopy "github.com/cairn-backup/cairn/pkg/copy"
)

// The source and destinations have different passphrases; copy into one
// made with --copy-chunker-params-from moves blobs, into another
// re-chunks; a second copy copies nothing; stats and tag work on the
// result and restores stay exact.
func TestCopyStatsTagCLI(t *testing.T) {
	home := isolate(t)
	for _, k := range []string{"CAIRN_FROM_REPOSITORY", "CAIRN_FROM_PASSWORD", "CAIRN_FROM_PASSWORD_FILE", "CAIRN_FROM_PASSWORD_COMMAND", "CAIRN_FROM_KEY_HINT"} {
		t.Setenv(k, "")
	}
	src, same, other := filepath.Join(home, "usb"), filepath.Join(home, "same"), filepath.Join(home, "other")
	data := filepath.Join(home, "data")
	makeSmallTree(t, data)
	srcPass := filepath.Join(home, "usb-pass")
	if err := os.WriteFile(srcPass, []byte("usb pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ok(t, "-r", src, "--password-file", srcPass, "init")
	ok(t, "-r", src, "--password-file", srcPass, "backup", data)
	t.Setenv("CAIRN_PASSWORD", "dest pass")
	t.Setenv("CAIRN_FROM_PASSWORD_FILE", srcPass)
	out := ok(t, "-r", same, "init", "--copy-chunker-params-from", src)
	if !strings.Contains(out, "chunks data as repository") {
		t.Errorf("init --copy-chunker-params-from says:\n%s", out)
	}
	ok(t, "-r", other, "init")

	for _, c := range []struct {
		dst, mode string
	}{{same, "blobs"}, {other, "rechunk"}} {
		var first, second copyJSON
		decode(t, ok(t, "-r", c.dst, "--json", "copy", "--from-repo", src), &first)
		if first.Mode != snapcopy.Mode(c.mode) || len(first.Copied) != 1 || len(first.Skipped) != 0 {
			t.Fatalf("copy into %s: %+v", c.dst, first)
		}
		decode(t, ok(t, "-r", c.dst, "--json", "copy", "--from-repo", src), &second)
		if len(second.Copied) != 0 || len(second.Skipped) != 1 {
			t.Fatalf("second copy into %s: %+v", c.dst, second)
		}
		target := t.TempDir()
		ok(t, "-r", c.dst, "restore", "latest", "--target", target)
		sameTree(t, data, filepath.Join(target, data))
	}

	// Without the source's passphrase the copy says what to set.
	t.Setenv("CAIRN_FROM_PASSWORD_FILE", "")
	fails(t, exitError, "CAIRN_FROM_PASSWORD", "-r", same, "copy", "--from-repo", src)
	fails(t, exitWrongPass, "source", "-r", same, "copy", "--from-repo", src, "--from-password-command", "echo wrong")

	var st statsJSON
	decode(t, ok(t, "-r", same, "--json", "stats"), &st)
	if st.Totals.Snapshots != 1 || st.Files == 0 || st.RestoreSize < 3<<20 || st.UniqueSize == 0 || st.Packs == 0 || len(st.Snapshots) != 1 {
		t.Errorf("stats: %+v", st)
	}
	if ps := st.Snapshots; len(ps) == 1 && (ps[0].Freed == 0 || ps[0].OnlyBlobs != st.Blobs) {
		t.Errorf("the only snapshot should hold every blob and free them: %+v", ps[0])
	}

	fails(t, exitError, "refusing to change every snapshot", "-r", same, "tag", "--add", "x")
	fails(t, exitError, "--add", "-r", same, "tag", "latest")
	var tagged []map[string]any
	decode(t, ok(t, "-r", same, "--json", "tag", "--add", "keep,offsite", "latest"), &tagged)
	if len(tagged) != 1 {
		t.Fatalf("tag: %v", tagged)
	}
	var snaps []map[string]any
	decode(t, ok(t, "-r", same, "--json", "snapshots"), &snaps)
	if len(snaps) != 1 || snaps[0]["id"] != tagged[0]["new"] || snaps[0]["original"] == nil || snaps[0]["original"] == snaps[0]["id"] {
		t.Fatalf("after tag: %v", snaps)
	}
	tags, _ := snaps[0]["tags"].([]any)
	if !slices.Equal(tags, []any{"keep", "offsite"}) {
		t.Errorf("tags %v", tags)
	}
	target := t.TempDir()
	ok(t, "-r", same, "restore", "latest", "--target", target)
	sameTree(t, data, filepath.Join(target, data))
	// The retagged copy is still the source's snapshot: nothing to copy.
	t.Setenv("CAIRN_FROM_PASSWORD_FILE", srcPass)
	var again copyJSON
	decode(t, ok(t, "-r", same, "--json", "copy", "--from-repo", src), &again)
	if len(again.Copied) != 0 {
		t.Fatalf("copy after tagging: %+v", again)
	}
}

// decode decodes the last line of s: the summary, after any status
// lines (--json).
func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(lastLine(s)), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
