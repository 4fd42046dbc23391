package forget

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// DefaultGroupBy groups snapshots of the same host and set of paths, so
// that a policy never trades one machine's or one directory's backups for
// another's.
const DefaultGroupBy = "host,paths"

// Group is a set of snapshots a policy is applied to as one.
type Group struct {
	// Key identifies the group in output, e.g. "host=laptop paths=[/home]";
	// it is "" when grouping by nothing.
	Key string
	// Host, Paths and Tags are the values grouped by (zero when not).
	Host  string
	Paths []string
	Tags  []string
	// Snapshots are in the order given to GroupBy.
	Snapshots []snapshot.Entry
}

// groupFields is what a group-by specification selects.
type groupFields struct{ host, paths, tags bool }

// parseGroupBy parses "host,paths", "host", "paths", "tags" (in any
// combination) or "" for no grouping.
func parseGroupBy(by string) (groupFields, error) {
	var f groupFields
	for field := range strings.SplitSeq(by, ",") {
		switch strings.TrimSpace(field) {
		case "":
		case "host", "hosts":
			f.host = true
		case "path", "paths":
			f.paths = true
		case "tag", "tags":
			f.tags = true
		default:
			return f, fmt.Errorf("group by %q: unknown field %q (use host, paths, tags, a comma-separated combination, or nothing)", by, field)
		}
	}
	return f, nil
}

// GroupBy splits snaps into groups by the comma-separated fields of by:
// "host", "paths" (the set of backed-up paths, order and duplicates
// ignored), "tags" (the set of tags), or "" for one group of everything.
// Groups are sorted by key; each keeps the input order of its snapshots.
func GroupBy(snaps []snapshot.Entry, by string) ([]Group, error) {
	f, err := parseGroupBy(by)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int)
	var groups []Group
	for _, e := range snaps {
		g := Group{}
		var key []string
		if f.host {
			g.Host = e.Snapshot.Host
			key = append(key, fmt.Sprintf("host=%s", g.Host))
		}
		if f.paths {
			g.Paths = cleanSet(e.Snapshot.Paths, path.Clean)
			key = append(key, fmt.Sprintf("paths=%q", g.Paths))
		}
		if f.tags {
			g.Tags = cleanSet(e.Snapshot.Tags, strings.TrimSpace)
			key = append(key, fmt.Sprintf("tags=%q", g.Tags))
		}
		g.Key = strings.Join(key, " ")
		i, ok := index[g.Key]
		if !ok {
			i = len(groups)
			index[g.Key] = i
			groups = append(groups, g)
		}
		groups[i].Snapshots = append(groups[i].Snapshots, e)
	}
	slices.SortFunc(groups, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	return groups, nil
}

// cleanSet returns the sorted set of clean(s) for s in list, never nil.
func cleanSet(list []string, clean func(string) string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, clean(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
