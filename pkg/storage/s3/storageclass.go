package s3

import (
	"fmt"
	"strings"
)

// dataPrefix is where the repository keeps its data packs: the only
// objects Config.StorageClass applies to. Config, keys, index, snapshots,
// leases, deletion and forgotten records are small, read by every command
// and rewritten or deleted often, so they always use the bucket default: an
// infrequent-access class would bill them minimum durations and retrieval
// fees, and an archive class would make the repository unreadable.
const dataPrefix = "data/"

// storageClasses are the S3 storage classes cairn accepts, with whether
// they are archive classes whose objects cannot be read without a restore
// request first.
var storageClasses = map[string]bool{
	"STANDARD":            false,
	"REDUCED_REDUNDANCY":  false,
	"STANDARD_IA":         false,
	"ONEZONE_IA":          false,
	"INTELLIGENT_TIERING": false,
	"GLACIER_IR":          false, // Glacier Instant Retrieval: readable at once
	"EXPRESS_ONEZONE":     false,
	"OUTPOSTS":            false,
	"SNOW":                false,
	"GLACIER":             true,
	"DEEP_ARCHIVE":        true,
}

// knownStorageClasses lists the accepted words for messages.
const knownStorageClasses = "STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, " +
	"REDUCED_REDUNDANCY, EXPRESS_ONEZONE, OUTPOSTS, SNOW"

// normalizeStorageClass checks class and returns it in the upper case S3
// expects; "" stays "" (the bucket default). Archive classes are refused:
// a pack in GLACIER or DEEP_ARCHIVE cannot be read by restore, check or
// prune until someone issues a restore request for it.
func normalizeStorageClass(class string) (string, error) {
	class = strings.TrimSpace(class)
	if class == "" {
		return "", nil
	}
	upper := strings.ToUpper(class)
	archive, ok := storageClasses[upper]
	switch {
	case !ok:
		return "", fmt.Errorf("s3: storage class %q unknown; use one of %s (or leave it empty for the bucket default)",
			class, knownStorageClasses)
	case archive:
		return "", fmt.Errorf("s3: storage class %s cannot be used until cold storage is supported: "+
			"its objects cannot be read without a restore request; use STANDARD_IA or ONEZONE_IA", upper)
	}
	return upper, nil
}

// storageClassFor returns the storage class a Put of name sends: the
// configured one for data packs, the bucket default ("") for everything
// else.
func (s *Store) storageClassFor(name string) string {
	if strings.HasPrefix(name, dataPrefix) {
		return s.storageClass
	}
	return ""
}
