// Package schedule installs the timers that run cairn's jobs unattended.
//
// A job's schedule is a systemd calendar expression ("daily 02:30" is
// written as systemd writes it, "*-*-* 02:30:00"; see systemd.time(7)).
// Where systemd runs, Install writes a oneshot service that runs
// "cairn --config FILE run JOB" and a timer for it, then enables the
// timer: Persistent=true, so that a machine that was off at 02:30 runs
// the job when it comes back, and RandomizedDelaySec, so that a fleet of
// machines does not hit one bucket in the same second.
//
// Where there is no systemctl, Cron converts the simple calendars (daily,
// hourly, weekly, "daily HH:MM", "*-*-* HH:MM:SS") into a crontab line for
// the user to install, and says so when a calendar has no cron form
// rather than guessing one.
//
// The systemctl program is looked up on PATH and the unit directory comes
// from XDG_CONFIG_HOME (user units) or is /etc/systemd/system (--system),
// so tests run against a stub systemctl and a temporary directory and
// never touch the real user's systemd.
package schedule
