package exclude

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a size such as "500", "100k", "1.5M", "2GiB" or "1 TB".
// Units are powers of 1024 and case does not matter.
func ParseSize(s string) (int64, error) {
	// Powers of 1024: backup tools (restic, tar, du) use binary units, so
	// "1M" and "1MiB" agree.
	sizeUnits := []struct {
		suffixes []string
		factor   float64
	}{
		{[]string{"tib", "tb", "t"}, 1 << 40},
		{[]string{"gib", "gb", "g"}, 1 << 30},
		{[]string{"mib", "mb", "m"}, 1 << 20},
		{[]string{"kib", "kb", "k"}, 1 << 10},
		{[]string{"b", ""}, 1},
	}
	text := strings.ToLower(strings.TrimSpace(s))
	for _, u := range sizeUnits {
		for _, suffix := range u.suffixes {
			num, ok := strings.CutSuffix(text, suffix)
			if !ok {
				continue
			}
			num = strings.TrimSpace(num)
			if num == "" || strings.ContainsAny(num, "+-eE") {
				continue
			}
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				continue
			}
			bytes := v * u.factor
			if bytes > math.MaxInt64 {
				return 0, fmt.Errorf("size %q is too large", s)
			}
			return int64(bytes), nil
		}
	}
	return 0, fmt.Errorf("size %q: want a number with an optional unit, like 500k, 20M or 1.5G", s)
}
