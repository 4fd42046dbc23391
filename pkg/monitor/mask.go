package monitor

import (
	"errors"
	"net/url"
	"strings"
)

// MaskURL returns raw with everything after the host replaced by "***"
// (path, query, fragment) and any userinfo dropped, so that it can be
// printed: ping and webhook URLs are their own credentials.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "***"
	}
	masked := u.Scheme + "://" + u.Host
	if u.User != nil {
		masked = u.Scheme + "://***@" + u.Host
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		masked += "/***"
	}
	return masked
}

// cleanError returns err's message without the URL net/http puts in it.
func cleanError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	return strings.TrimSpace(msg)
}
