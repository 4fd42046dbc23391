package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlError turns a YAML decoding error into lines a person can act on:
// file and line first, the key it is about, and what kind of value was
// wanted, without the decoder's Go type names.
func yamlError(path string, data []byte, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	lines := strings.Split(string(data), "\n")
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, describeYAMLProblem(path, lines, m))
	}
	return fmt.Errorf("config file %s has %s:\n%s\nfix it (cairn config example prints every setting, commented)",
		path, plural(len(out), "mistake"), strings.Join(out, "\n"))
}

var (
	yamlLineRe    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknownRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlTypeRe    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

func describeYAMLProblem(path string, lines []string, m string) string {
	sm := yamlLineRe.FindStringSubmatch(m)
	if sm == nil {
		return path + ": " + m
	}
	n, _ := strconv.Atoi(sm[1])
	where, what := fmt.Sprintf("%s:%d", path, n), sm[2]
	key := keyAtLine(lines, n)
	if u := yamlUnknownRe.FindStringSubmatch(what); u != nil {
		return fmt.Sprintf("%s: unknown key %q (check its spelling and indentation)", where, u[1])
	}
	if t := yamlTypeRe.FindStringSubmatch(what); t != nil {
		got := fmt.Sprintf("%q", t[2])
		if t[1] == "map" || t[1] == "seq" {
			got = map[string]string{"map": "a mapping", "seq": "a list"}[t[1]]
		}
		if key != "" {
			return fmt.Sprintf("%s: %s: %s is not %s", where, key, got, kindName(t[3]))
		}
		return fmt.Sprintf("%s: %s is not %s", where, got, kindName(t[3]))
	}
	return where + ": " + what
}

// keyAtLine returns the mapping key on line n (1-based), if it has one.
func keyAtLine(lines []string, n int) string {
	if n < 1 || n > len(lines) {
		return ""
	}
	l := strings.TrimLeft(strings.TrimSpace(lines[n-1]), "- ")
	k, _, ok := strings.Cut(l, ":")
	if !ok || strings.ContainsAny(k, " {[\"'") {
		return ""
	}
	return k
}

// kindName names what a Go type accepts, in YAML words.
func kindName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping of keys to values"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "text"
	case goType == "time.Duration":
		return "a duration such as 90s or 5m"
	}
	return "a mapping of settings"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
