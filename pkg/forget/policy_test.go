package forget

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// snap is a test snapshot: a time in RFC 3339 (any zone) and tags. Its ID
// is its position in the test's list, so ties sort in list order.
type snap struct {
	time string
	tags []string
}

func entries(t *testing.T, snaps []snap) []snapshot.Entry {
	t.Helper()
	out := make([]snapshot.Entry, len(snaps))
	for i, s := range snaps {
		tm, err := time.Parse(time.RFC3339, s.time)
		if err != nil {
			t.Fatal(err)
		}
		var id crypto.ID
		id[0] = byte(i)
		out[i] = snapshot.Entry{ID: id, Snapshot: &snapshot.Snapshot{Time: tm.UTC(), Host: "h", Paths: []string{"/p"}, Tags: s.tags}}
	}
	return out
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

func TestApply(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tokyo := mustLoad(t, "Asia/Tokyo")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fiveDays := []snap{
		{time: "2021-03-01T10:00:00Z"}, {time: "2021-03-02T10:00:00Z"}, {time: "2021-03-03T10:00:00Z"},
		{time: "2021-03-04T10:00:00Z"}, {time: "2021-03-05T10:00:00Z"},
	}
	tests := []struct {
		name   string
		snaps  []snap
		policy Policy
		now    time.Time // zero: now above
		// want maps the positions of kept snapshots to their reasons.
		want map[int]string
	}{
		{
			name: "last 3", snaps: fiveDays, policy: Policy{Last: 3},
			want: map[int]string{4: "last 3", 3: "last 3", 2: "last 3"},
		},
		{
			name: "last unlimited", snaps: fiveDays[:2], policy: Policy{Last: Unlimited},
			want: map[int]string{1: "last all", 0: "last all"},
		},
		{
			name: "daily keeps the newest of each day",
			snaps: []snap{
				{time: "2021-03-01T08:00:00Z"}, {time: "2021-03-01T20:00:00Z"},
				{time: "2021-03-02T08:00:00Z"}, {time: "2021-03-02T20:00:00Z"},
				{time: "2021-03-03T08:00:00Z"}, {time: "2021-03-03T20:00:00Z"},
			},
			policy: Policy{Daily: 2, Location: time.UTC},
			want:   map[int]string{5: "daily 2", 3: "daily 2"},
		},
		{
			name: "daily with counts left keeps the oldest too",
			snaps: []snap{
				{time: "2021-03-01T08:00:00Z"}, {time: "2021-03-01T20:00:00Z"},
				{time: "2021-03-02T08:00:00Z"}, {time: "2021-03-02T20:00:00Z"},
			},
			policy: Policy{Daily: 7, Location: time.UTC},
			want:   map[int]string{3: "daily 7", 1: "daily 7", 0: "oldest daily 7"},
		},
		{
			name: "month boundary",
			snaps: []snap{
				{time: "2021-01-30T12:00:00Z"}, {time: "2021-01-31T23:59:59Z"},
				{time: "2021-02-01T00:00:00Z"}, {time: "2021-02-15T00:00:00Z"},
			},
			policy: Policy{Monthly: 2, Location: time.UTC},
			want:   map[int]string{3: "monthly 2", 1: "monthly 2"},
		},
		{
			name: "year boundary",
			snaps: []snap{
				{time: "2019-06-01T00:00:00Z"}, {time: "2020-12-31T23:59:59Z"},
				{time: "2021-01-01T00:00:00Z"}, {time: "2021-07-01T00:00:00Z"},
			},
			policy: Policy{Yearly: 2, Location: time.UTC},
			want:   map[int]string{3: "yearly 2", 1: "yearly 2"},
		},
		{
			name: "hourly",
			snaps: []snap{
				{time: "2021-03-01T09:59:59Z"}, {time: "2021-03-01T10:00:00Z"},
				{time: "2021-03-01T10:59:59Z"}, {time: "2021-03-01T11:00:00Z"},
			},
			policy: Policy{Hourly: 2, Location: time.UTC},
			want:   map[int]string{3: "hourly 2", 2: "hourly 2"},
		},
		{
			// 2020-12-31 (Thursday) and 2021-01-01 (Friday) are both in
			// ISO week 53 of 2020; 2021-01-04 starts week 1 of 2021.
			name: "ISO week 53 spans the new year",
			snaps: []snap{
				{time: "2020-12-27T12:00:00Z"}, {time: "2020-12-28T12:00:00Z"}, {time: "2020-12-31T12:00:00Z"},
				{time: "2021-01-01T12:00:00Z"}, {time: "2021-01-04T12:00:00Z"},
			},
			policy: Policy{Weekly: 2, Location: time.UTC},
			want:   map[int]string{4: "weekly 2", 3: "weekly 2"},
		},
		{
			name: "ISO weeks with counts left",
			snaps: []snap{
				{time: "2020-12-27T12:00:00Z"}, {time: "2020-12-31T12:00:00Z"}, {time: "2021-01-01T12:00:00Z"},
			},
			policy: Policy{Weekly: 5, Location: time.UTC},
			want:   map[int]string{2: "weekly 5", 0: "weekly 5"},
		},
		{
			// Spring forward in Berlin: 2021-03-28 has 23 hours, and both
			// snapshots are on it; the previous one is on the 27th.
			name: "DST spring forward keeps the calendar day",
			snaps: []snap{
				{time: "2021-03-27T23:30:00+01:00"}, {time: "2021-03-28T00:30:00+01:00"},
				{time: "2021-03-28T23:30:00+02:00"},
			},
			policy: Policy{Daily: 2, Location: berlin},
			want:   map[int]string{2: "daily 2", 0: "daily 2"},
		},
		{
			// Fall back in Berlin: 02:30 happens twice on 2021-10-31, and
			// both instants are the local hour "02".
			name: "DST fall back repeats an hour",
			snaps: []snap{
				{time: "2021-10-31T01:30:00+02:00"}, {time: "2021-10-31T02:30:00+02:00"},
				{time: "2021-10-31T02:30:00+01:00"},
			},
			policy: Policy{Hourly: 2, Location: berlin},
			want:   map[int]string{2: "hourly 2", 0: "hourly 2"},
		},
		{
			name: "time zone UTC: one day",
			snaps: []snap{
				{time: "2021-06-01T10:00:00Z"}, {time: "2021-06-01T14:00:00Z"}, {time: "2021-06-01T23:30:00Z"},
			},
			policy: Policy{Daily: 2, Location: time.UTC},
			want:   map[int]string{2: "daily 2", 0: "oldest daily 2"},
		},
		{
			// The same instants in Tokyo: 23:30Z is already 2 June.
			name: "time zone Tokyo: two days",
			snaps: []snap{
				{time: "2021-06-01T10:00:00Z"}, {time: "2021-06-01T14:00:00Z"}, {time: "2021-06-01T23:30:00Z"},
			},
			policy: Policy{Daily: 2, Location: tokyo},
			want:   map[int]string{2: "daily 2", 1: "daily 2"},
		},
		{
			name: "within is relative to the newest snapshot",
			snaps: []snap{
				{time: "2021-01-01T00:00:00Z"}, {time: "2021-02-01T00:00:00Z"},
				{time: "2021-03-01T00:00:00Z"}, {time: "2021-03-10T00:00:00Z"},
			},
			policy: Policy{Within: 720 * time.Hour},
			want:   map[int]string{3: "within 720h", 2: "within 720h"},
		},
		{
			name: "within boundary is exclusive",
			snaps: []snap{
				{time: "2021-02-08T00:00:00Z"}, {time: "2021-02-08T00:00:01Z"}, {time: "2021-03-10T00:00:00Z"},
			},
			policy: Policy{Within: 720 * time.Hour},
			want:   map[int]string{2: "within 720h", 1: "within 720h"},
		},
		{
			name: "within ignores snapshots from the future",
			snaps: []snap{
				{time: "2021-01-01T00:00:00Z"}, {time: "2021-03-01T00:00:00Z"}, {time: "2099-01-01T00:00:00Z"},
			},
			policy: Policy{Within: 24 * time.Hour},
			now:    time.Date(2021, 3, 2, 0, 0, 0, 0, time.UTC),
			want:   map[int]string{2: "within 24h", 1: "within 24h"},
		},
		{
			name: "tag keeps without counting",
			snaps: []snap{
				{time: "2021-03-01T00:00:00Z", tags: []string{"keep"}}, {time: "2021-03-02T00:00:00Z"},
				{time: "2021-03-03T00:00:00Z", tags: []string{"keep", "x"}}, {time: "2021-03-04T00:00:00Z"},
			},
			policy: Policy{Last: 1, Tags: []string{"keep"}},
			want:   map[int]string{3: "last 1", 2: "tag keep", 0: "tag keep"},
		},
		{
			name: "tag list needs every tag",
			snaps: []snap{
				{time: "2021-03-01T00:00:00Z", tags: []string{"a"}}, {time: "2021-03-02T00:00:00Z", tags: []string{"b", "a"}},
			},
			policy: Policy{Tags: []string{"a,b"}},
			want:   map[int]string{1: "tag a,b"},
		},
		{
			name: "duplicates at the same time share a bucket",
			snaps: []snap{
				{time: "2021-03-01T00:00:00Z"}, {time: "2021-03-02T12:00:00Z"}, {time: "2021-03-02T12:00:00Z"},
			},
			policy: Policy{Daily: 1, Location: time.UTC},
			want:   map[int]string{1: "daily 1"},
		},
		{
			name: "duplicates at the same time count twice for last",
			snaps: []snap{
				{time: "2021-03-01T00:00:00Z"}, {time: "2021-03-02T12:00:00Z"}, {time: "2021-03-02T12:00:00Z"},
			},
			policy: Policy{Last: 2},
			want:   map[int]string{1: "last 2", 2: "last 2"},
		},
		{
			name: "several rules give several reasons",
			snaps: []snap{
				{time: "2020-12-15T00:00:00Z"}, {time: "2021-01-20T00:00:00Z"}, {time: "2021-01-21T00:00:00Z"},
			},
			policy: Policy{Last: 1, Daily: 2, Monthly: 2, Location: time.UTC},
			want: map[int]string{
				2: "last 1, daily 2, monthly 2",
				1: "daily 2",
				0: "monthly 2",
			},
		},
		{
			name: "unlimited daily",
			snaps: []snap{
				{time: "2021-03-01T00:00:00Z"}, {time: "2021-03-02T00:00:00Z"}, {time: "2021-03-02T12:00:00Z"},
				{time: "2021-03-03T00:00:00Z"},
			},
			policy: Policy{Daily: Unlimited, Location: time.UTC},
			want:   map[int]string{3: "daily all", 2: "daily all", 0: "daily all"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := entries(t, tc.snaps)
			n := tc.now
			if n.IsZero() {
				n = now
			}
			ds, err := Apply(es, tc.policy, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(es) {
				t.Fatalf("%d decisions for %d snapshots", len(ds), len(es))
			}
			got := make(map[int]string)
			for i, d := range ds {
				if i > 0 && ds[i-1].Snapshot.Time.Before(d.Snapshot.Time) {
					t.Errorf("decisions not newest first at %d", i)
				}
				if d.Keep != (len(d.Reasons) > 0) {
					t.Errorf("snapshot %d: Keep %v with reasons %q", d.ID[0], d.Keep, d.Reasons)
				}
				if d.Keep {
					got[int(d.ID[0])] = strings.Join(d.Reasons, ", ")
				}
			}
			for pos, reasons := range tc.want {
				if got[pos] != reasons {
					t.Errorf("snapshot %d (%s): reasons %q, want %q", pos, tc.snaps[pos].time, got[pos], reasons)
				}
			}
			for pos, reasons := range got {
				if _, ok := tc.want[pos]; !ok {
					t.Errorf("snapshot %d (%s) kept (%s), want it forgotten", pos, tc.snaps[pos].time, reasons)
				}
			}
		})
	}
}

func TestApplyRefusesEmptyPolicy(t *testing.T) {
	es := entries(t, []snap{{time: "2021-03-01T00:00:00Z"}})
	ds, err := Apply(es, Policy{Location: time.UTC}, time.Now())
	if !errors.Is(err, ErrEmptyPolicy) || ds != nil {
		t.Fatalf("Apply(empty policy) = %v, %v; want ErrEmptyPolicy", ds, err)
	}
	for _, p := range []Policy{{Daily: -2}, {Within: -time.Hour}, {Tags: []string{","}}} {
		if _, err := Apply(es, p, time.Now()); err == nil {
			t.Errorf("Apply(%+v) accepted an invalid policy", p)
		}
	}
}

func TestApplyEmptyList(t *testing.T) {
	ds, err := Apply(nil, Policy{Last: 1}, time.Now())
	if err != nil || len(ds) != 0 {
		t.Fatalf("Apply(nil) = %v, %v", ds, err)
	}
}

func TestKeptRemoved(t *testing.T) {
	es := entries(t, []snap{{time: "2021-03-01T00:00:00Z"}, {time: "2021-03-02T00:00:00Z"}, {time: "2021-03-03T00:00:00Z"}})
	ds, err := Apply(es, Policy{Last: 2}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := Kept(ds); !slices.Equal(got, []crypto.ID{es[2].ID, es[1].ID}) {
		t.Errorf("Kept = %v", got)
	}
	if got := Removed(ds); !slices.Equal(got, []crypto.ID{es[0].ID}) {
		t.Errorf("Removed = %v", got)
	}
}
