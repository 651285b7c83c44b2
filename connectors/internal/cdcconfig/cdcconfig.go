// Package cdcconfig holds the configuration pieces the Debezium-compatible
// CDC sources (connectors/postgres, connectors/mysql) share: validators of
// Debezium's list-valued keys, the include/exclude filter rule,
// message.key.columns and skipped.operations parsing, and the "cannot be
// used together" rule for include/exclude pairs.
package cdcconfig

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// ValidRegexList checks a comma-separated list of regular expressions.
func ValidRegexList(v string) error {
	for _, p := range connect.SplitList(v) {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("invalid regular expression %q: %v", p, err)
		}
	}
	return nil
}

// ValidSkipped checks skipped.operations: c, u, d, t or none.
func ValidSkipped(v string) error {
	for _, p := range connect.SplitList(v) {
		switch strings.ToLower(p) {
		case "c", "u", "d", "t", "none":
		default:
			return fmt.Errorf("unknown operation %q (expected c, u, d, t or none)", p)
		}
	}
	return nil
}

// ParseSkipped returns the set of skipped operations ("none" is no
// operation).
func ParseSkipped(v string) (map[string]bool, error) {
	skip := map[string]bool{}
	for _, p := range connect.SplitList(v) {
		if p = strings.ToLower(p); p != "none" {
			skip[p] = true
		}
	}
	return skip, nil
}

// NonEmpty rejects a blank value.
func NonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

var prefixChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidPrefix checks topic.prefix: letters, digits, '.', '_' and '-'.
func ValidPrefix(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	if !prefixChars.MatchString(v) {
		return fmt.Errorf("may contain only letters, digits, '.', '_' and '-'")
	}
	return nil
}

// Trimmed returns v without surrounding spaces (for connect.Into).
func Trimmed(v string) (string, error) { return strings.TrimSpace(v), nil }

// Pass reports whether id passes an include/exclude filter pair: with
// include expressions it must match one of them, otherwise it must match
// none of the exclude expressions.
func Pass(include, exclude []*regexp.Regexp, id string) bool {
	if len(include) > 0 {
		return matchAny(include, id)
	}
	return !matchAny(exclude, id)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// Exclusive returns a ConfigError naming the second key of the first pair
// whose keys g both sets to a non-empty value (Debezium's include and
// exclude lists exclude each other).
func Exclusive(g *connect.Given, pairs ...[2]string) error {
	for _, p := range pairs {
		a, okA := g.Raw(p[0])
		b, okB := g.Raw(p[1])
		if okA && okB && a != "" && b != "" {
			return connect.Errorf(p[1], "cannot be used together with %s", p[0])
		}
	}
	return nil
}

// KeyColumns is a parsed message.key.columns value: per table expression,
// the columns that make the record key.
type KeyColumns []keyColumnsRule

type keyColumnsRule struct {
	table *regexp.Regexp
	cols  []string
}

// ParseKeyColumns parses "<table regex>:<col>,<col>;..." where a table is
// named <container>.<table> (container: "schema" or "db", for messages).
func ParseKeyColumns(v, container string) (KeyColumns, error) {
	var out KeyColumns
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, ":")
		if i <= 0 || i == len(part)-1 {
			return nil, fmt.Errorf("entry %q must look like <%s>.<table>:<column>[,<column>...]", part, container)
		}
		re, err := regexp.Compile("^(?:" + part[:i] + ")$")
		if err != nil {
			return nil, fmt.Errorf("entry %q: invalid table expression: %v", part, err)
		}
		cols := connect.SplitList(part[i+1:])
		if len(cols) == 0 {
			return nil, fmt.Errorf("entry %q names no columns", part)
		}
		out = append(out, keyColumnsRule{table: re, cols: cols})
	}
	return out, nil
}

// For returns the key columns for the table id (<container>.<table>), or
// nil when no rule names it.
func (k KeyColumns) For(id string) []string {
	for _, r := range k {
		if r.table.MatchString(id) {
			return r.cols
		}
	}
	return nil
}
