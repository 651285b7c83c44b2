package connect

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Options is a plugin's typed configuration, declared once: Keys returns
// every key the plugin reads, each with its destination in the receiver
// (ConfigKey.Into), and Check applies the rules that span several keys
// after every key is bound. The same declaration serves Start (Bind), REST
// validation (ValidateOptions) and generated docs (Keys of a zero value).
type Options interface {
	// Keys declares the configuration keys, with Into set to fill the
	// receiver.
	Keys() ConfigDef
	// Check validates across keys once all are bound. Errors should be
	// *ConfigError values naming the key at fault.
	Check() error
}

// Bind validates cfg against o.Keys(), fills o through each key's Into
// with the defaulted value, then runs o.Check. It returns cfg with
// defaults applied. Errors are *ConfigError values naming the key.
//
// An INT, LONG, DOUBLE or BOOLEAN key with an empty default stands for
// Kafka's null default: when cfg does not set it, it is not type-checked
// and its Into is not called. Options embedding Given learn which keys cfg
// sets explicitly.
func Bind(cfg map[string]string, o Options) (Config, error) {
	if g, ok := o.(givenSetter); ok {
		g.setGiven(cfg)
	}
	def := nullDefaults(o.Keys(), cfg)
	c, err := def.Parse(cfg)
	if err != nil {
		return nil, err
	}
	for _, k := range def {
		if k.Into == nil {
			continue
		}
		v, ok := c[k.Name]
		if !ok {
			continue // optional key without default, not set
		}
		if err := k.Into(v); err != nil {
			return nil, keyError(k.Name, err)
		}
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// ValidateOptions runs the same rules as Bind on a fresh o and reports
// them per key, as /config/validate does: per-key errors first, and a
// cross-field (Check) error attached to the key it names (or returned as
// extra when it names no declared key).
func ValidateOptions(cfg map[string]string, o Options) (values []ConfigValue, extra error) {
	if g, ok := o.(givenSetter); ok {
		g.setGiven(cfg)
	}
	def := nullDefaults(o.Keys(), cfg)
	values = def.Validate(cfg)
	failed := false
	for i, k := range def {
		cv := &values[i]
		if len(cv.Errors) > 0 {
			failed = true
			continue
		}
		if k.Into == nil {
			continue
		}
		v, ok := cfg[k.Name]
		if !ok {
			if !k.HasDefault {
				continue
			}
			v = k.Default
		}
		if err := k.Into(v); err != nil {
			failed = true
			cv.Errors = append(cv.Errors, fmt.Sprintf("Invalid value %s for configuration %s: %s", v, k.Name, keyError(k.Name, err).Msg))
		}
	}
	if failed {
		return values, nil
	}
	if err := o.Check(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			for i := range values {
				if values[i].Name == ce.Key {
					values[i].Errors = append(values[i].Errors, ce.Msg)
					return values, nil
				}
			}
		}
		return values, err
	}
	return values, nil
}

// nullDefaults returns def with Kafka's null defaults made explicit: an
// INT, LONG, DOUBLE or BOOLEAN key whose default is empty and which cfg
// does not set has no value, so it is neither type-checked nor validated
// nor passed to Into (its destination keeps its zero value).
func nullDefaults(def ConfigDef, cfg map[string]string) ConfigDef {
	var out ConfigDef
	for i, k := range def {
		switch k.Type {
		case TypeInt, TypeLong, TypeDouble, TypeBoolean:
		default:
			continue
		}
		if _, set := cfg[k.Name]; set || !k.HasDefault || k.Default != "" {
			continue
		}
		if out == nil {
			out = append(ConfigDef(nil), def...)
		}
		out[i].Type, out[i].Validate, out[i].Into = TypeString, nil, nil
	}
	if out == nil {
		return def
	}
	return out
}

// Given records the keys a configuration sets explicitly, before
// defaults apply. Embed it in an Options struct whose rules depend on
// whether a key is set (a deprecated alternative key, "set but empty"):
// Bind and ValidateOptions fill it before any Into runs.
type Given struct{ cfg map[string]string }

// Has reports whether the configuration sets key.
func (g *Given) Has(key string) bool {
	_, ok := g.cfg[key]
	return ok
}

// Raw returns the value of key as given (without defaults) and whether
// it is set.
func (g *Given) Raw(key string) (string, bool) {
	v, ok := g.cfg[key]
	return v, ok
}

func (g *Given) setGiven(cfg map[string]string) { g.cfg = cfg }

type givenSetter interface{ setGiven(map[string]string) }

// keyError is the ConfigError for a value that Into rejected; its Msg is
// the bare reason (callers showing it per key add the value and key, as
// ConfigDef.Validate does).
func keyError(key string, err error) *ConfigError {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return &ConfigError{Key: key, Msg: err.Error()}
}

// IntoString stores the value.
func IntoString(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

// IntoLower stores the value trimmed and lower-cased (enumerations).
func IntoLower(dst *string) func(string) error {
	return func(v string) error { *dst = strings.ToLower(strings.TrimSpace(v)); return nil }
}

// IntoOneOf stores the value in the spelling of the first of values it
// equals case-insensitively (after trimming), for enumerations whose
// canonical case matters (V1/V2, Date/Time); other values are rejected.
func IntoOneOf(dst *string, values ...string) func(string) error {
	return func(v string) error {
		v = strings.TrimSpace(v)
		for _, a := range values {
			if strings.EqualFold(a, v) {
				*dst = a
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

// IntoInt stores the value as an int.
func IntoInt(dst *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("expected an integer")
		}
		*dst = n
		return nil
	}
}

// IntoInt64 stores the value as an int64.
func IntoInt64(dst *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("expected an integer")
		}
		*dst = n
		return nil
	}
}

// IntoFloat64 stores the value as a float64.
func IntoFloat64(dst *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("expected a number")
		}
		*dst = f
		return nil
	}
}

// IntoBool stores the value as a bool ("true" or "false", any case).
func IntoBool(dst *bool) func(string) error {
	return func(v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return fmt.Errorf("expected true or false")
		}
		return nil
	}
}

// IntoMillis stores an integer number of milliseconds as a duration.
func IntoMillis(dst *time.Duration) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("expected a number of milliseconds")
		}
		*dst = time.Duration(n) * time.Millisecond
		return nil
	}
}

// IntoList stores a comma-separated list (see SplitList).
func IntoList(dst *[]string) func(string) error {
	return func(v string) error { *dst = SplitList(v); return nil }
}

// IntoRegexps compiles a comma-separated list of regular expressions, each
// anchored to match a whole identifier.
func IntoRegexps(dst *[]*regexp.Regexp) func(string) error {
	return func(v string) error {
		var out []*regexp.Regexp
		for _, p := range SplitList(v) {
			re, err := regexp.Compile("^(?:" + p + ")$")
			if err != nil {
				return fmt.Errorf("invalid regular expression %q: %v", p, err)
			}
			out = append(out, re)
		}
		*dst = out
		return nil
	}
}

// Into stores the result of parse, for values with their own syntax.
func Into[T any](dst *T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*dst = x
		return nil
	}
}
