package s3

import (
	"errors"
	"regexp"

	"github.com/minio/minio-go/v7"
)

// expectingRegion finds the region in S3's "the region 'x' is wrong;
// expecting 'y'" message, for servers that leave the Region element out.
var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// RegionFromError returns the bucket region an S3 error names (the Region
// element or header of a wrong-region answer), or "".
func RegionFromError(err error) string {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return ""
	}
	if resp.Region != "" {
		return resp.Region
	}
	if m := expectingRegion.FindStringSubmatch(resp.Message); m != nil {
		return m[1]
	}
	return ""
}
