// Package monitor tells the outside world how an unattended job went:
// pings to a dead man's switch (healthchecks.io, uptime-kuma push,
// cronitor), webhooks that POST the run's summary (ntfy, Slack-style
// incoming webhooks, anything that takes JSON), and a Prometheus textfile
// for node_exporter's textfile collector.
//
// A monitor is a witness, not a participant: one that cannot be reached
// (each request bounded by a timeout, tried a few times) is reported as a
// warning and never turns a good backup into a failed one. The dead man's
// switch on the other side notices the missing ping; that is its job.
//
// Monitor URLs carry secrets: a healthchecks ping URL is its own password,
// ntfy topics and Slack webhook paths too, and some put tokens in the query
// string or the userinfo. Nothing here ever prints a URL beyond its scheme
// and host (MaskURL); errors from net/http, which quote the whole URL, are
// unwrapped to their cause before they are shown.
//
// The textfile is rewritten atomically (temporary file, then rename), so
// the collector never reads half a file, and under an flock on a sibling
// lock file, so that two jobs sharing one file each keep the other's
// lines: a failed run keeps its job's last success time from the file.
package monitor
