// Package forget decides which snapshots a retention policy keeps.
//
// It is pure: it reads snapshot metadata (time, host, paths, tags) and
// returns decisions; it never touches a repository. The caller deletes the
// snapshots it is told to drop (prune.Forget) and later runs prune to free
// their data. Keeping the policy free of I/O is what lets it be tested
// exhaustively with tables, which matters because its failure mode is silent
// data loss months later.
//
// # Algorithm
//
// The semantics are restic's, so that people moving from restic keep the
// schedules they know. Snapshots are first split into groups (GroupBy: by
// host and paths unless asked otherwise), and the policy is applied to each
// group on its own. Within a group the snapshots are sorted newest first and
// visited once. For each rule with a count left (Last, Hourly, Daily,
// Weekly, Monthly, Yearly; -1 means no limit) the snapshot's bucket is
// computed from its time in the policy's time zone:
//
//	last    every snapshot is its own bucket
//	hourly  YYYY-MM-DD HH
//	daily   YYYY-MM-DD
//	weekly  ISO 8601 year and week (2020-12-31 and 2021-01-01 are both
//	        in week 53 of 2020)
//	monthly YYYY-MM
//	yearly  YYYY
//
// A snapshot whose bucket differs from the last bucket that rule kept is
// the newest of a new bucket: it is kept and the rule's count goes down.
// Like restic, when a rule still has counts left at the oldest snapshot of
// the group, that oldest snapshot is kept too ("oldest daily 7"), which
// keeps the longest history the policy allows.
//
// Within keeps every snapshot newer than the newest snapshot of the group
// minus the duration, not "now" minus it: if backups stop, a within-only
// policy must not expire the last good snapshots. Snapshots dated in the
// future (clock skew) do not count as the newest. Tags keep every snapshot
// that carries the tag (or, for "a,b", all of the listed tags), without
// using up any count.
//
// Buckets use local time in Policy.Location because "one a day" means a
// calendar day where the user lives: the same instant can fall on different
// days in two zones, and a DST change makes a day 23 or 25 hours long
// without changing which day it is.
//
// An empty policy is an error rather than "forget everything": deleting
// every snapshot is never what a missing flag meant.
package forget
