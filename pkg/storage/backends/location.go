package backends

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Location schemes.
const (
	SchemeLocal = "local"
	SchemeS3    = "s3"
)

// usage is appended to parse errors.
const usage = "use a directory path, file:///ABSOLUTE/PATH, s3://HOST[:PORT]/BUCKET[/PREFIX] or s3+http://HOST[:PORT]/BUCKET[/PREFIX]"

// Location is a parsed repository location.
type Location struct {
	// Scheme is SchemeLocal or SchemeS3.
	Scheme string
	// Path is the repository directory (local only), as given: it may be
	// relative.
	Path string
	// Endpoint is the S3 server's host[:port] (s3 only).
	Endpoint string
	// Bucket is the S3 bucket (s3 only).
	Bucket string
	// Prefix is the key prefix inside the bucket, without leading or
	// trailing '/'; empty means the bucket's root (s3 only).
	Prefix string
	// Insecure means plain HTTP instead of HTTPS (s3+http:// URLs).
	Insecure bool
}

// String formats the location as a URL (or the path, for local) that
// ParseLocation accepts. It never contains credentials.
func (l Location) String() string {
	if l.Scheme == SchemeLocal {
		return l.Path
	}
	scheme := "s3"
	if l.Insecure {
		scheme = "s3+http"
	}
	s := scheme + "://" + l.Endpoint + "/" + l.Bucket
	if l.Prefix != "" {
		s += "/" + l.Prefix
	}
	return s
}

// ParseLocation parses a repository location: a plain path (absolute or
// relative), a file:// URL, or an s3:// (HTTPS) or s3+http:// (plain HTTP)
// URL of the form s3://HOST[:PORT]/BUCKET[/PREFIX].
func ParseLocation(raw string) (Location, error) {
	if strings.TrimSpace(raw) == "" {
		return Location{}, fmt.Errorf("empty repository location: %s", usage)
	}
	scheme, rest, isURL := strings.Cut(raw, "://")
	if !isURL || !validScheme(scheme) {
		return parsePath(raw)
	}
	// Check for credentials before url.Parse, whose errors quote the URL.
	if authority, _, _ := strings.Cut(rest, "/"); strings.Contains(authority, "@") {
		return Location{}, fmt.Errorf("repository location %q: credentials do not belong in the URL "+
			"(they would show up in logs and process lists); pass them as options or environment variables", redact(scheme, rest))
	}
	u, err := url.Parse(raw)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // the *url.Error would repeat the URL
		}
		return Location{}, fmt.Errorf("repository location %q: %w", raw, err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("repository location %q: query strings and fragments are not supported: %s", raw, usage)
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(raw, u)
	case "s3", "s3+http":
		return parseS3URL(raw, u)
	}
	return Location{}, fmt.Errorf("repository location %q: unsupported scheme %q: %s", raw, u.Scheme, usage)
}

// validScheme reports whether s looks like a URL scheme. A single letter is
// a Windows drive ("C://backup" is a path).
func validScheme(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// redact replaces the user information of a URL, for error messages.
func redact(scheme, rest string) string {
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = "***@" + authority[at+1:]
	}
	return scheme + "://" + authority + "/" + path
}

func parsePath(raw string) (Location, error) {
	lower := strings.ToLower(raw)
	for _, s := range []string{"s3:", "s3+http:"} {
		if strings.HasPrefix(lower, s) {
			return Location{}, fmt.Errorf("repository location %q: did you mean %s//%s? %s",
				raw, s, strings.TrimLeft(raw[len(s):], "/"), usage)
		}
	}
	if rest, ok := strings.CutPrefix(lower, "file:"); ok {
		if strings.HasPrefix(rest, "/") {
			return Location{}, fmt.Errorf("repository location %q: did you mean file:///%s? %s",
				raw, strings.TrimLeft(raw[len("file:"):], "/"), usage)
		}
		return Location{}, fmt.Errorf("repository location %q: file URLs need an absolute path; "+
			"for a relative path write just the path", raw)
	}
	return Location{Scheme: SchemeLocal, Path: filepath.Clean(raw)}, nil
}

func parseFileURL(raw string, u *url.URL) (Location, error) {
	if u.Host != "" && u.Host != "localhost" {
		return Location{}, fmt.Errorf("repository location %q: file URLs take no host (write file:///ABSOLUTE/PATH, "+
			"with three slashes, or just the path)", raw)
	}
	p := u.Path
	if p == "" {
		return Location{}, fmt.Errorf("repository location %q: missing path: %s", raw, usage)
	}
	// file:///C:/backup on Windows: drop the slash before the drive.
	if filepath.VolumeName(p[1:]) != "" {
		p = p[1:]
	}
	return Location{Scheme: SchemeLocal, Path: filepath.Clean(filepath.FromSlash(p))}, nil
}

func parseS3URL(raw string, u *url.URL) (Location, error) {
	if u.Host == "" {
		return Location{}, fmt.Errorf("repository location %q: missing server host (for AWS write s3://s3.amazonaws.com/BUCKET): %s", raw, usage)
	}
	if u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		return Location{}, fmt.Errorf("repository location %q: empty port", raw)
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("repository location %q: missing bucket: %s", raw, usage)
	}
	if err := validBucket(bucket); err != nil {
		return Location{}, fmt.Errorf("repository location %q: %w", raw, err)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if err := validPrefix(prefix); err != nil {
		return Location{}, fmt.Errorf("repository location %q: %w", raw, err)
	}
	return Location{
		Scheme:   SchemeS3,
		Endpoint: u.Host,
		Bucket:   bucket,
		Prefix:   prefix,
		Insecure: u.Scheme == "s3+http",
	}, nil
}

// validBucket applies the S3 bucket naming rules that every provider
// shares: 3-63 lowercase letters, digits, '.', '-' (and '_', which some
// providers allow), starting and ending with a letter or digit.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3-63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		switch {
		case alnum:
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("bucket name %q must be lowercase", b)
		case c != '.' && c != '-' && c != '_':
			return fmt.Errorf("bucket name %q: character %q not allowed (use lowercase letters, digits, '.' and '-')", b, c)
		case i == 0 || i == len(b)-1:
			return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
		}
	}
	return nil
}

// validPrefix rejects key prefixes that S3 would store literally but that
// almost certainly are typos: empty, "." and ".." segments.
func validPrefix(p string) error {
	if p == "" {
		return nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("prefix %q contains an empty segment (\"//\")", p)
		case ".", "..":
			return fmt.Errorf("prefix %q contains a %q segment", p, seg)
		}
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("prefix %q contains a control character", p)
		}
	}
	return nil
}
