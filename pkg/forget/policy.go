package forget

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Unlimited as a rule's count keeps the newest snapshot of every bucket.
const Unlimited = -1

// Policy says which snapshots of a group to keep. Counts are the number of
// buckets to keep (0: the rule is off; Unlimited: every bucket).
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	// Within keeps every snapshot newer than the group's newest snapshot
	// minus Within.
	Within time.Duration
	// Tags keeps every snapshot with one of these tags; an entry "a,b"
	// requires all of a and b.
	Tags []string
	// Location is the time zone of the buckets; nil means time.Local.
	Location *time.Location
}

// ErrEmptyPolicy means a policy keeps nothing, which would forget every
// snapshot.
var ErrEmptyPolicy = errors.New("the policy keeps nothing, which would forget every snapshot; give at least one keep rule (last, hourly, daily, weekly, monthly, yearly, within or tag)")

// Empty reports whether the policy has no rule at all.
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 &&
		p.Monthly == 0 && p.Yearly == 0 && p.Within == 0 && len(p.Tags) == 0
}

// Validate rejects empty policies and counts or durations that mean
// nothing.
func (p Policy) Validate() error {
	if p.Empty() {
		return ErrEmptyPolicy
	}
	for _, r := range p.rules() {
		if r.count < Unlimited {
			return fmt.Errorf("keep %s %d: a count is 0 or more, or -1 for unlimited", r.name, r.count)
		}
	}
	if p.Within < 0 {
		return fmt.Errorf("keep within %v: the duration must not be negative", p.Within)
	}
	for _, t := range p.Tags {
		if strings.Trim(t, ",") == "" {
			return fmt.Errorf("keep tag %q: empty tag", t)
		}
	}
	return nil
}

// Decision is the verdict on one snapshot.
type Decision struct {
	ID       crypto.ID
	Snapshot *snapshot.Snapshot
	Keep     bool
	// Reasons say why a kept snapshot is kept, e.g. "last 3",
	// "daily 7", "oldest monthly 12", "within 720h", "tag keep".
	Reasons []string
}

// rule is one counted bucket rule.
type rule struct {
	name   string
	count  int
	bucket func(t time.Time, nr int) string
}

func (p Policy) rules() []rule {
	return []rule{
		{"last", p.Last, func(_ time.Time, nr int) string { return strconv.Itoa(nr) }},
		{"hourly", p.Hourly, func(t time.Time, _ int) string { return t.Format("2006-01-02 15") }},
		{"daily", p.Daily, func(t time.Time, _ int) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time, _ int) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{"monthly", p.Monthly, func(t time.Time, _ int) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly, func(t time.Time, _ int) string { return t.Format("2006") }},
	}
}

// Apply decides for each snapshot of one group (see GroupBy) whether p
// keeps it. now only serves to ignore snapshots dated in the future when
// finding the newest snapshot for Within. The decisions are ordered newest
// first (ties by ID), the order in which the rules consume their counts.
// An empty or invalid policy gives an error and no decisions.
func Apply(snaps []snapshot.Entry, p Policy, now time.Time) ([]Decision, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	list := slices.Clone(snaps)
	slices.SortStableFunc(list, func(a, b snapshot.Entry) int {
		if c := b.Snapshot.Time.Compare(a.Snapshot.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})

	rules := p.rules()
	remaining := make([]int, len(rules))
	lastBucket := make([]string, len(rules))
	seen := make([]bool, len(rules))
	for i, r := range rules {
		remaining[i] = r.count
	}
	cutoff, hasCutoff := withinCutoff(list, p.Within, now)

	out := make([]Decision, 0, len(list))
	for nr, e := range list {
		d := Decision{ID: e.ID, Snapshot: e.Snapshot}
		for _, t := range p.Tags {
			if hasTags(e.Snapshot, t) {
				d.Reasons = append(d.Reasons, "tag "+t)
			}
		}
		if hasCutoff && e.Snapshot.Time.After(cutoff) {
			d.Reasons = append(d.Reasons, "within "+formatDuration(p.Within))
		}
		local := e.Snapshot.Time.In(loc)
		oldest := nr == len(list)-1
		for i, r := range rules {
			if remaining[i] == 0 {
				continue
			}
			b := r.bucket(local, nr)
			newBucket := !seen[i] || b != lastBucket[i]
			if !newBucket && !oldest {
				continue
			}
			reason := r.name + " " + formatCount(r.count)
			if !newBucket {
				// restic keeps the oldest snapshot while a rule has
				// counts left, for the longest history allowed.
				reason = "oldest " + reason
			}
			d.Reasons = append(d.Reasons, reason)
			lastBucket[i], seen[i] = b, true
			if remaining[i] > 0 {
				remaining[i]--
			}
		}
		d.Keep = len(d.Reasons) > 0
		out = append(out, d)
	}
	return out, nil
}

// withinCutoff returns the time after which Within keeps snapshots: the
// newest snapshot not dated after now, minus within.
func withinCutoff(list []snapshot.Entry, within time.Duration, now time.Time) (time.Time, bool) {
	if within == 0 {
		return time.Time{}, false
	}
	var latest time.Time
	found := false
	for _, e := range list {
		t := e.Snapshot.Time
		if t.After(now) {
			continue
		}
		if !found || t.After(latest) {
			latest, found = t, true
		}
	}
	if !found {
		// Every snapshot is in the future; measure from now.
		latest = now
	}
	return latest.Add(-within), true
}

// hasTags reports whether s carries every tag of the comma-separated list.
func hasTags(s *snapshot.Snapshot, list string) bool {
	for t := range strings.SplitSeq(list, ",") {
		if t == "" {
			continue
		}
		if !slices.Contains(s.Tags, t) {
			return false
		}
	}
	return true
}

func formatCount(n int) string {
	if n == Unlimited {
		return "all"
	}
	return strconv.Itoa(n)
}

// formatDuration prints 720h rather than 720h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Kept returns the IDs of the decisions that keep their snapshot, and
// Removed those that do not.
func Kept(ds []Decision) []crypto.ID { return ids(ds, true) }

// Removed returns the IDs of the snapshots the decisions drop.
func Removed(ds []Decision) []crypto.ID { return ids(ds, false) }

func ids(ds []Decision, keep bool) []crypto.ID {
	var out []crypto.ID
	for _, d := range ds {
		if d.Keep == keep {
			out = append(out, d.ID)
		}
	}
	return out
}
