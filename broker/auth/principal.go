package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"regexp"
	"strings"
)

// Anonymous is the principal of unauthenticated (PLAINTEXT) connections.
const Anonymous = "User:ANONYMOUS"

// UserPrincipal returns "User:<name>".
func UserPrincipal(name string) string { return "User:" + name }

// MappingRule is one ssl.principal.mapping.rules entry.
type MappingRule struct {
	def     bool
	re      *regexp.Regexp
	replace string
	lower   bool
	upper   bool
}

// PrincipalMapper maps TLS client-certificate subjects to user names with
// Kafka's ssl.principal.mapping.rules: a comma-separated list of
// "RULE:pattern/replacement/[LU]" entries and "DEFAULT"; the first rule
// whose pattern matches the whole distinguished name wins; DEFAULT keeps
// the name unchanged. With no rule matching, the name is used as is.
type PrincipalMapper struct{ rules []MappingRule }

// ParseMappingRules parses ssl.principal.mapping.rules ("" means DEFAULT).
func ParseMappingRules(s string) (*PrincipalMapper, error) {
	pm := &PrincipalMapper{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			pm.rules = append(pm.rules, MappingRule{def: true})
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			r, n, err := parseRule(rest[len("RULE:"):])
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: %w", err)
			}
			pm.rules = append(pm.rules, r)
			rest = rest[len("RULE:")+n:]
		default:
			return nil, fmt.Errorf("ssl.principal.mapping.rules: unexpected %q (want RULE:pattern/replacement/[LU] or DEFAULT)", rest)
		}
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: expected ',' before %q", rest)
		}
		rest = strings.TrimSpace(rest[1:])
	}
	return pm, nil
}

// parseRule parses "pattern/replacement/[LU]" and returns the rule and the
// bytes consumed. A '/' inside the pattern or replacement is escaped as "\/".
func parseRule(s string) (MappingRule, int, error) {
	var parts []string
	var cur strings.Builder
	i := 0
	for i < len(s) && len(parts) < 2 {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '/':
			cur.WriteByte('/')
			i += 2
			continue
		case c == '/':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
		i++
	}
	if len(parts) < 2 {
		return MappingRule{}, 0, fmt.Errorf("rule %q: want RULE:pattern/replacement/[LU]", s)
	}
	r := MappingRule{replace: javaToGoReplacement(parts[1])}
	if i < len(s) && (s[i] == 'L' || s[i] == 'U') {
		r.lower, r.upper = s[i] == 'L', s[i] == 'U'
		i++
	}
	re, err := regexp.Compile("^(?:" + parts[0] + ")$")
	if err != nil {
		return MappingRule{}, 0, fmt.Errorf("rule pattern %q: %w", parts[0], err)
	}
	r.re = re
	return r, i, nil
}

// javaToGoReplacement turns Java's "$1" group references into Go's "${1}".
func javaToGoReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Map returns the user name for a distinguished name.
func (pm *PrincipalMapper) Map(dn string) string {
	for _, r := range pm.rules {
		if r.def {
			return dn
		}
		m := r.re.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(r.re.ExpandString(nil, r.replace, dn, m))
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out
	}
	return dn
}

// CertPrincipal returns the principal of a client certificate: "User:"
// plus its mapped subject distinguished name (RFC 2253 form, e.g.
// "CN=alice,OU=eng,O=example").
func (pm *PrincipalMapper) CertPrincipal(cert *x509.Certificate) string {
	return UserPrincipal(pm.Map(SubjectDN(cert.Subject)))
}

// SubjectDN renders a subject in RFC 2253 order (most specific first),
// the form Kafka's mapping rules see.
func SubjectDN(n pkix.Name) string { return n.ToRDNSequence().String() }
