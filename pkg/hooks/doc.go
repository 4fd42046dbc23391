// Package hooks runs the commands a job asks for around its backup:
// before, after (on success), on-failure and finally.
//
// A hook is either a string, run through "sh -c" so that pipes and
// redirections work as the user typed them, or an argument list, run
// directly so that nothing in it is ever interpreted by a shell. Each has a
// timeout. The hook runs in a process group of its own, and its timeout (or
// the job's cancellation) kills the whole group: a hook that started
// "pg_dump | gzip" must not leave the pipeline behind when it is stopped,
// still holding the dump file and the database connection.
//
// The hook's environment is cairn's own minus its passphrase
// (CAIRN_PASSWORD), plus the job's facts (CAIRN_JOB, CAIRN_SNAPSHOT_ID, ...)
// given by the caller. Repository credentials are never in cairn's process
// environment (they are passed to the backend only), so no hook sees them.
//
// Output (stdout and stderr) is copied line by line to the log writer,
// each line prefixed with the hook's name, so the log says which hook
// printed what.
package hooks
