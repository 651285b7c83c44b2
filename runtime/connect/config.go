package connect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ConfigType is the type of a configuration value, as in Kafka's ConfigDef.
type ConfigType string

// Configuration value types.
const (
	TypeString   ConfigType = "STRING"
	TypeInt      ConfigType = "INT"
	TypeLong     ConfigType = "LONG"
	TypeDouble   ConfigType = "DOUBLE"
	TypeBoolean  ConfigType = "BOOLEAN"
	TypeList     ConfigType = "LIST"
	TypeClass    ConfigType = "CLASS"
	TypePassword ConfigType = "PASSWORD"
)

// Importance ranks a configuration key, as in Kafka's ConfigDef.
type Importance string

// Importance levels.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// ConfigKey declares one configuration key.
type ConfigKey struct {
	Name string
	Type ConfigType
	// Default is the default as a string; HasDefault false makes the key
	// required.
	Default    string
	HasDefault bool
	Importance Importance
	Doc        string
	Group      string
	// Validate checks a (defaulted) value; it returns an error message for
	// the user, or nil.
	Validate func(value string) error
	// Recommended lists suggested values, reported by /config/validate.
	Recommended []string
	// Into, when set, receives the (defaulted, validated) value when the
	// configuration is bound with Bind, typically storing it in a field of
	// the plugin's Options. Its error is reported against the key.
	Into func(value string) error
}

// ConfigDef is the set of keys a connector understands. Keys not declared
// are passed through unvalidated (Kafka Connect does the same).
type ConfigDef []ConfigKey

// Key returns the declaration for name, or nil.
func (d ConfigDef) Key(name string) *ConfigKey {
	for i := range d {
		if d[i].Name == name {
			return &d[i]
		}
	}
	return nil
}

// ConfigValue is the validation result for one key.
type ConfigValue struct {
	Name        string
	Value       string
	Errors      []string
	Recommended []string
	Visible     bool
}

// Validate checks cfg against the definition: required keys, type syntax
// and validators. It returns one ConfigValue per declared key, in order.
func (d ConfigDef) Validate(cfg map[string]string) []ConfigValue {
	out := make([]ConfigValue, 0, len(d))
	for _, k := range d {
		v, ok := cfg[k.Name]
		cv := ConfigValue{Name: k.Name, Value: v, Recommended: k.Recommended, Visible: true}
		if !ok {
			if !k.HasDefault {
				cv.Errors = append(cv.Errors, fmt.Sprintf("Missing required configuration %q which has no default value.", k.Name))
				out = append(out, cv)
				continue
			}
			v = k.Default
			cv.Value = v
		}
		if err := checkType(k.Type, v); err != nil {
			cv.Errors = append(cv.Errors, fmt.Sprintf("Invalid value %s for configuration %s: %v", v, k.Name, err))
		} else if k.Validate != nil {
			if err := k.Validate(v); err != nil {
				cv.Errors = append(cv.Errors, fmt.Sprintf("Invalid value %s for configuration %s: %v", v, k.Name, err))
			}
		}
		out = append(out, cv)
	}
	return out
}

// Errors returns the validation errors of cfg as ConfigErrors, or nil.
func (d ConfigDef) Errors(cfg map[string]string) []error {
	var errs []error
	for _, cv := range d.Validate(cfg) {
		for _, e := range cv.Errors {
			errs = append(errs, &ConfigError{Key: cv.Name, Msg: e})
		}
	}
	return errs
}

// Parse validates cfg and returns it with defaults applied. The first
// validation error is returned as a *ConfigError.
func (d ConfigDef) Parse(cfg map[string]string) (Config, error) {
	if errs := d.Errors(cfg); len(errs) > 0 {
		return nil, errs[0]
	}
	out := make(Config, len(cfg)+len(d))
	for k, v := range cfg {
		out[k] = v
	}
	for _, k := range d {
		if _, ok := out[k.Name]; !ok && k.HasDefault {
			out[k.Name] = k.Default
		}
	}
	return out, nil
}

// Secret reports whether key holds a secret that must be masked in
// responses and logs: a PASSWORD key, or a name that looks like one.
func (d ConfigDef) Secret(key string) bool {
	if k := d.Key(key); k != nil && k.Type == TypePassword {
		return true
	}
	l := strings.ToLower(key)
	return strings.Contains(l, "password") || strings.Contains(l, "secret") || strings.HasSuffix(l, ".key") && strings.Contains(l, "access")
}

func checkType(t ConfigType, v string) error {
	switch t {
	case TypeInt:
		_, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("expected an int")
		}
	case TypeLong:
		_, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("expected a long")
		}
	case TypeDouble:
		_, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("expected a double")
		}
	case TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "false":
		default:
			return fmt.Errorf("expected true or false")
		}
	}
	return nil
}

// OneOf returns a validator accepting only the given values
// (case-insensitive).
func OneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, a := range values {
			if strings.EqualFold(a, strings.TrimSpace(v)) {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

// AtLeast returns a validator for integers >= min.
func AtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("expected an integer")
		}
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

// Config is a connector configuration with defaults applied and typed
// accessors. Accessors assume the config was validated by
// ConfigDef.Parse; malformed values read as zero.
type Config map[string]string

// String returns the value of key.
func (c Config) String(key string) string { return c[key] }

// Int returns the value of key as an int.
func (c Config) Int(key string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(c[key]))
	return n
}

// Int64 returns the value of key as an int64.
func (c Config) Int64(key string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(c[key]), 10, 64)
	return n
}

// Float64 returns the value of key as a float64.
func (c Config) Float64(key string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(c[key]), 64)
	return f
}

// Bool returns the value of key as a bool.
func (c Config) Bool(key string) bool { return strings.EqualFold(strings.TrimSpace(c[key]), "true") }

// List returns the comma-separated value of key, trimmed, without empty
// elements.
func (c Config) List(key string) []string { return SplitList(c[key]) }

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty elements.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return slices.Clip(out)
}
