package exclude

// Selector returns the filter of restore --include and --exclude
// (restorer.Options.Select), from include and exclude patterns either of
// which may be nil. A path that exclude matches is left out, and so is
// everything below it (the directory is not entered). Otherwise, without
// include every path is taken; with it, the paths it matches (and, as for
// excludes, everything below a matched directory) are taken, and a
// directory that it does not match is entered only when something below
// it may match (MayMatchBelow).
func Selector(include, exclude *Matcher) func(path string, isDir bool) (selected, descend bool) {
	return func(path string, isDir bool) (bool, bool) {
		if exclude != nil && exclude.MatchPath(path, isDir) {
			return false, false
		}
		if include == nil || include.MatchPath(path, isDir) {
			return true, isDir
		}
		return false, isDir && include.MayMatchBelow(path)
	}
}
