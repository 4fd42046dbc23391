package exclude

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// pattern is one compiled gitignore-style pattern.
type pattern struct {
	source   string   // as written, for messages
	segments []string // path components; "**" matches any number of them
	negate   bool
	dirOnly  bool
	fold     bool // compiled in lower case; matched against lower-case paths
}

// compilePattern parses one pattern (see the package documentation).
func compilePattern(s string) (pattern, error) {
	p := pattern{source: s}
	switch {
	case strings.HasPrefix(s, "!"):
		p.negate = true
		s = s[1:]
	case strings.HasPrefix(s, `\!`), strings.HasPrefix(s, `\#`):
		s = s[1:]
	}
	if strings.HasSuffix(s, "/") {
		p.dirOnly = true
		s = strings.TrimRight(s, "/")
	}
	anchored := strings.HasPrefix(s, "/")
	s = strings.TrimLeft(s, "/")
	if s == "" {
		return pattern{}, fmt.Errorf("exclude pattern %q matches nothing: give a name or a path", p.source)
	}
	if !anchored {
		p.segments = append(p.segments, "**")
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." {
			continue
		}
		if seg == ".." {
			return pattern{}, fmt.Errorf("exclude pattern %q: \"..\" is not allowed", p.source)
		}
		if seg == "**" && len(p.segments) > 0 && p.segments[len(p.segments)-1] == "**" {
			continue // "**/**" is "**"
		}
		if _, err := path.Match(seg, ""); err != nil {
			return pattern{}, fmt.Errorf("exclude pattern %q: bad component %q: %w", p.source, seg, err)
		}
		p.segments = append(p.segments, seg)
	}
	return p, nil
}

// match reports whether the pattern matches the path given by its
// components; isDir says whether the path is a directory.
func (p *pattern) match(components []string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	return matchSegments(p.segments, components)
}

// matchSegments matches pattern components against path components. The
// recursion only branches on "**", and consecutive "**" are collapsed, so
// the cost stays small for the short patterns people write.
func matchSegments(pat, comps []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				// A trailing "**" matches what is inside, as in Git:
				// "/tmp/**" excludes the contents of /tmp, not /tmp.
				return len(comps) > 0
			}
			for i := range comps {
				if matchSegments(rest, comps[i:]) {
					return true
				}
			}
			return false
		}
		if len(comps) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], comps[0]); !ok {
			return false
		}
		pat, comps = pat[1:], comps[1:]
	}
	return len(comps) == 0
}

// mayMatchPrefix reports whether pattern components could match a path
// that starts with comps (MayMatchBelow).
func mayMatchPrefix(pat, comps []string) bool {
	for len(pat) > 0 && len(comps) > 0 {
		if pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], comps[0]); !ok {
			return false
		}
		pat, comps = pat[1:], comps[1:]
	}
	return true
}

// splitPath turns an OS path into its components, dropping empty and "."
// components.
func splitPath(p string) []string {
	p = filepath.ToSlash(p)
	comps := strings.Split(p, "/")
	out := comps[:0]
	for _, c := range comps {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// ReadPatterns reads an exclude file: one pattern per line; blank lines and
// lines starting with "#" are skipped and trailing white space is dropped.
// The patterns are checked when they are given to New.
func ReadPatterns(r io.Reader) ([]string, error) {
	var patterns []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return patterns, nil
}

// ReadPatternFile reads the exclude file name (see ReadPatterns). Errors
// name the file.
func ReadPatternFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("exclude file %s does not exist: check the path", name)
		}
		return nil, fmt.Errorf("exclude file: %w", err)
	}
	defer f.Close()
	patterns, err := ReadPatterns(f)
	if err != nil {
		return nil, fmt.Errorf("exclude file %s: %w", name, err)
	}
	return patterns, nil
}
