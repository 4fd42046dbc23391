package backends

import (
	"net"
	"strings"
)

// InferRegion returns the S3 region that an endpoint's host name states, or
// "" when it states none (then the client asks the server, which a
// restricted key may not be allowed to do). Providers put the region in
// their endpoint names, so for them no GetBucketLocation call and no
// --s3-region are needed:
//
//	s3.<region>.backblazeb2.com          Backblaze B2
//	s3.<region>.wasabisys.com            Wasabi (s3.wasabisys.com: us-east-1)
//	s3.<region>.amazonaws.com            AWS (also s3-<region>, s3.dualstack.<region>)
//	<account>.r2.cloudflarestorage.com   Cloudflare R2: "auto"
func InferRegion(endpoint string) string {
	host := strings.ToLower(endpoint)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	labels := strings.Split(host, ".")
	n := len(labels)
	suffix := func(s string) bool { return strings.HasSuffix(host, "."+s) || host == s }
	switch {
	case suffix("r2.cloudflarestorage.com"):
		return "auto"
	case suffix("backblazeb2.com") && n >= 4 && labels[0] == "s3":
		return labels[1]
	case suffix("wasabisys.com"):
		if n == 3 && labels[0] == "s3" {
			return "us-east-1"
		}
		if n >= 4 && labels[0] == "s3" {
			return labels[1]
		}
	case suffix("amazonaws.com"):
		// s3.amazonaws.com is us-east-1; bucket.s3.<region>.amazonaws.com
		// and s3.dualstack.<region>.amazonaws.com name theirs.
		rest := labels[:n-2]
		for i, l := range rest {
			switch {
			case l == "s3" && i == len(rest)-1:
				return "us-east-1"
			case l == "s3" || l == "dualstack" || l == "s3-accelerate":
				continue
			case strings.HasPrefix(l, "s3-"):
				return strings.TrimPrefix(l, "s3-")
			case i > 0 && (rest[i-1] == "s3" || rest[i-1] == "dualstack"):
				return l
			}
		}
	}
	return ""
}
