// Package exclude decides which files a backup leaves out. A Matcher
// combines gitignore-style path patterns with rules that look at the file
// system: marker files (--exclude-if-present), cache directories tagged
// with CACHEDIR.TAG (--exclude-caches), a size limit
// (--exclude-larger-than) and staying on the file systems of the backup
// roots (--one-file-system). It implements the archiver's Excluder.
//
// # Patterns
//
// Patterns follow .gitignore, adapted to a backup, where there is no
// .gitignore file to anchor them to:
//
//   - A pattern is matched component by component against the path as the
//     archiver sees it (absolute, slash-separated): "*" and "?" never match
//     a "/", "[a-z]" is a character class, "\" escapes.
//   - "**" as a whole component matches zero or more components:
//     "**/node_modules", "/home/**/.cache", "build/**".
//   - A leading "/" anchors the pattern at the file system root:
//     "/var/tmp" matches only that directory. Without it a pattern floats:
//     it may match at any depth, so "*.tmp" matches every .tmp file and
//     "src/gen" every gen directory inside a src directory. (Git anchors a
//     pattern with an inner slash at the .gitignore; we have no such
//     place, so only the leading slash anchors.)
//   - A trailing "/" matches directories only.
//   - A leading "!" negates: a path that an earlier pattern excluded is
//     included again. The last pattern that matches decides.
//   - As in Git, a path is excluded when any directory above it is: a
//     negation cannot re-include a file inside an excluded directory,
//     because the archiver never reads that directory.
//
// Exclude files (ReadPatterns) hold one pattern per line; blank lines and
// lines starting with "#" are skipped, trailing white space is dropped,
// and "\#" or "\!" at the start of a line stand for a literal "#" or "!".
//
// # Why the file-system rules live here
//
// Each rule needs only the path and its lstat result, which the archiver
// already has, plus at most one small read (a marker or CACHEDIR.TAG) per
// directory. Keeping them next to the patterns gives one place that
// answers "why was this left out", and keeps the CLI thin.
package exclude
