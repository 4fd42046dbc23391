package main

import "testing"

// TestWithATimeFromYAML: a job's with-atime reaches the backup options as
// --with-atime does, and is off when not given.
func TestWithATimeFromYAML(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want bool
	}{
		{"repositories:\n  r:\n    url: /tmp/repo\njobs:\n  home:\n    repository: r\n    paths: [/tmp]\n    with-atime: true\n", true},
		{"repositories:\n  r:\n    url: /tmp/repo\njobs:\n  home:\n    repository: r\n    paths: [/tmp]\n", false},
	} {
		cfg, err := parseConfig([]byte(c.yaml), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		spec, err := newJobSpec("home", cfg.Jobs["home"])
		if err != nil {
			t.Fatal(err)
		}
		if spec.backup.atime != c.want {
			t.Errorf("%q: with-atime %v, want %v", c.yaml, spec.backup.atime, c.want)
		}
	}
	cmd := newBackupCommand(&app{})
	if f := cmd.Flags().Lookup("with-atime"); f == nil || f.DefValue != "false" {
		t.Errorf("backup --with-atime: %+v", f)
	}
}
