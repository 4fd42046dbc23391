// Package config ships the example configuration files and the JSON Schema
// of this directory inside the cairn binary, so that `cairn config example`
// works on a machine that has only the binary, and error messages can point
// at something every user has.
package config

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.yaml cairn.schema.json
var files embed.FS

// Names lists the shipped files: the examples (NAME.yaml) and the schema.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// File returns a shipped file by name, with or without ".yaml".
func File(name string) ([]byte, bool) {
	if !strings.Contains(name, ".") {
		name += ".yaml"
	}
	b, err := files.ReadFile(name)
	return b, err == nil
}
