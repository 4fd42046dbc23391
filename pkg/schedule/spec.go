package schedule

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// DefaultRandomizedDelay spreads the start of a scheduled job.
const DefaultRandomizedDelay = 5 * time.Minute

// Spec is a job's schedule: schedule: "daily 02:30", or
// schedule: {calendar: "daily 02:30", randomized-delay: 10m}.
type Spec struct {
	Calendar string
	// RandomizedDelay is RandomizedDelaySec; nil means the default, 0
	// starts on the dot.
	RandomizedDelay *time.Duration
}

// IsZero reports whether no schedule is set.
func (s Spec) IsZero() bool { return s.Calendar == "" }

// Delay is the randomized delay in effect.
func (s Spec) Delay() time.Duration {
	if s.RandomizedDelay == nil {
		return DefaultRandomizedDelay
	}
	return *s.RandomizedDelay
}

// UnmarshalYAML accepts a calendar string or the mapping form.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if err := n.Decode(&s.Calendar); err != nil {
			return err
		}
		if strings.TrimSpace(s.Calendar) == "" {
			return lineError("line %d: schedule is empty; write a calendar such as \"daily 02:30\", or remove the key", n.Line)
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return lineError("line %d: schedule is a calendar such as \"daily 02:30\", or {calendar, randomized-delay}", n.Line)
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "calendar" && k.Value != "randomized-delay" {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type schedule.Spec", k.Line, k.Value))
		}
	}
	if errs != nil {
		return &yaml.TypeError{Errors: errs}
	}
	var m struct {
		Calendar string `yaml:"calendar"`
		Delay    string `yaml:"randomized-delay"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	s.Calendar = m.Calendar
	if strings.TrimSpace(s.Calendar) == "" {
		return lineError("line %d: schedule has no calendar; give one such as calendar: \"daily 02:30\"", n.Line)
	}
	if m.Delay != "" {
		d, err := time.ParseDuration(m.Delay)
		if err != nil || d < 0 {
			return lineError("line %d: randomized-delay %q is not a duration such as 5m or 0s", n.Line, m.Delay)
		}
		s.RandomizedDelay = &d
	}
	return nil
}

// MarshalYAML writes the mapping form with the delay in effect.
func (s Spec) MarshalYAML() (any, error) {
	return map[string]string{"calendar": s.Calendar, "randomized-delay": s.Delay().String()}, nil
}

// Validate checks what can be checked without systemd: the calendar is
// one line of printable text. systemd-analyze calendar checks the rest
// at install time.
func (s Spec) Validate() error {
	if strings.TrimSpace(s.Calendar) == "" {
		return fmt.Errorf("calendar is empty; write one such as \"daily 02:30\" (systemd.time(7))")
	}
	if strings.ContainsFunc(s.Calendar, unicode.IsControl) {
		return fmt.Errorf("calendar %q has a control character", s.Calendar)
	}
	return nil
}

var (
	hhmm   = regexp.MustCompile(`^(?:(?i:daily) |\*-\*-\* )?(\d{1,2}):(\d{2})(?::(00))?$`)
	hourly = regexp.MustCompile(`^(?:\*-\*-\* )?\*:(\d{2})(?::(00))?$`)
)

// Cron returns the five cron time fields for the calendar, or an error
// saying that it has no cron form.
func Cron(calendar string) (string, error) {
	c := strings.Join(strings.Fields(calendar), " ")
	switch strings.ToLower(c) {
	case "daily":
		return "0 0 * * *", nil
	case "hourly":
		return "0 * * * *", nil
	case "weekly":
		return "0 0 * * 1", nil // systemd's weekly is Monday 00:00
	case "monthly":
		return "0 0 1 * *", nil
	}
	if m := hhmm.FindStringSubmatch(c); m != nil {
		var h, min int
		fmt.Sscan(m[1], &h)
		fmt.Sscan(m[2], &min)
		if h < 24 && min < 60 {
			return fmt.Sprintf("%d %d * * *", min, h), nil
		}
	}
	if m := hourly.FindStringSubmatch(c); m != nil {
		var min int
		fmt.Sscan(m[1], &min)
		if min < 60 {
			return fmt.Sprintf("%d * * * *", min), nil
		}
	}
	return "", fmt.Errorf("the calendar %q has no simple cron form (cairn converts daily, hourly, weekly, monthly, \"daily HH:MM\" and \"*-*-* HH:MM:SS\"); write the crontab line yourself", calendar)
}

var dailyAt = regexp.MustCompile(`^(?i:daily)\s+(\d{1,2}:\d{2}(?::\d{2})?)$`)

// OnCalendar is the calendar as systemd takes it: cairn's shorthand
// "daily HH:MM" (which systemd rejects) becomes "*-*-* HH:MM"; anything
// else is passed on as written.
func OnCalendar(calendar string) string {
	c := strings.TrimSpace(calendar)
	if m := dailyAt.FindStringSubmatch(c); m != nil {
		return "*-*-* " + m[1]
	}
	return c
}

// lineError reports a mistake as the YAML decoder reports a wrong type,
// so that decoding goes on and every mistake of the file is listed.
func lineError(format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(format, args...)}}
}
