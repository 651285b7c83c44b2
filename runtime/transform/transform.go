package transform

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Transformation changes or drops one record. Apply must not modify r; it
// returns a new record, r itself when unchanged, or nil to drop it.
// Implementations are safe for concurrent use.
type Transformation interface {
	Apply(r *connect.Record) (*connect.Record, error)
}

// Predicate decides whether a transformation applies to a record.
type Predicate interface {
	Test(r *connect.Record) (bool, error)
}

// Kafka Connect and Debezium class names.
const (
	pkg                        = "org.apache.kafka.connect.transforms."
	InsertFieldKey             = pkg + "InsertField$Key"
	InsertFieldValue           = pkg + "InsertField$Value"
	ReplaceFieldKey            = pkg + "ReplaceField$Key"
	ReplaceFieldValue          = pkg + "ReplaceField$Value"
	MaskFieldKey               = pkg + "MaskField$Key"
	MaskFieldValue             = pkg + "MaskField$Value"
	ValueToKeyClass            = pkg + "ValueToKey"
	ExtractFieldKey            = pkg + "ExtractField$Key"
	ExtractFieldValue          = pkg + "ExtractField$Value"
	RegexRouterClass           = pkg + "RegexRouter"
	TimestampRouterClass       = pkg + "TimestampRouter"
	FilterClass                = pkg + "Filter"
	TopicNameMatches           = pkg + "predicates.TopicNameMatches"
	HasHeaderKey               = pkg + "predicates.HasHeaderKey"
	RecordIsTombstone          = pkg + "predicates.RecordIsTombstone"
	FlattenKey                 = pkg + "Flatten$Key"
	FlattenValue               = pkg + "Flatten$Value"
	HoistFieldKey              = pkg + "HoistField$Key"
	HoistFieldValue            = pkg + "HoistField$Value"
	InsertHeaderClass          = pkg + "InsertHeader"
	DropHeadersClass           = pkg + "DropHeaders"
	SetSchemaMetadataKey       = pkg + "SetSchemaMetadata$Key"
	SetSchemaMetadataValue     = pkg + "SetSchemaMetadata$Value"
	TimestampConverterKey      = pkg + "TimestampConverter$Key"
	TimestampConverterValue    = pkg + "TimestampConverter$Value"
	CastKey                    = pkg + "Cast$Key"
	CastValue                  = pkg + "Cast$Value"
	HeaderFromKey              = pkg + "HeaderFrom$Key"
	HeaderFromValue            = pkg + "HeaderFrom$Value"
	ExtractNewRecordStateClass = "io.debezium.transforms.ExtractNewRecordState"
)

type stage struct {
	alias     string
	t         Transformation
	predicate Predicate
	negate    bool
}

// Chain is a connector's ordered list of transformations, each optionally
// guarded by a predicate. It is safe for concurrent use.
type Chain struct {
	stages []stage
}

// Aliases returns the transformation aliases in order.
func (c *Chain) Aliases() []string {
	out := make([]string, len(c.stages))
	for i, s := range c.stages {
		out[i] = s.alias
	}
	return out
}

// Len returns the number of transformations.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.stages)
}

// Apply runs r through the chain. It returns nil when a transformation
// dropped the record. Errors name the failing transformation's alias.
func (c *Chain) Apply(r *connect.Record) (*connect.Record, error) {
	if c == nil {
		return r, nil
	}
	for _, s := range c.stages {
		if r == nil {
			return nil, nil
		}
		if s.predicate != nil {
			ok, err := s.predicate.Test(r)
			if err != nil {
				return nil, fmt.Errorf("transform %q: predicate: %w", s.alias, err)
			}
			if ok == s.negate {
				continue
			}
		}
		out, err := safeApply(s.t, r)
		if err != nil {
			return nil, fmt.Errorf("transform %q: %w", s.alias, err)
		}
		r = out
	}
	return r, nil
}

// safeApply runs t, turning a panic (a bug, never expected on any input)
// into an error so one bad record fails its task instead of the worker.
func safeApply(t Transformation, r *connect.Record) (out *connect.Record, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("internal error: %v", p)
		}
	}()
	return t.Apply(r)
}

// NewChain builds the chain declared in a connector configuration with
// the built-in classes (Builtin); see NewChainFrom.
func NewChain(cfg map[string]string) (*Chain, error) { return NewChainFrom(cfg, Builtin()) }

// NewChainFrom builds the chain declared in a connector configuration: the
// "transforms" alias list, transforms.<alias>.type (a class name or alias
// that l resolves), transforms.<alias>.predicate and .negate, the
// "predicates" alias list and predicates.<alias>.type, and each one's
// parameters. The first error is returned as a *connect.ConfigError naming
// the exact key at fault. A configuration without transforms yields an
// empty chain.
func NewChainFrom(cfg map[string]string, l Lookup) (*Chain, error) {
	c, errs := build(cfg, l)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return c, nil
}

// Validate checks the transforms and predicates of a connector
// configuration against the built-in classes; see ValidateFrom.
func Validate(cfg map[string]string) map[string][]string { return ValidateFrom(cfg, Builtin()) }

// ValidateFrom checks the transforms and predicates of a connector
// configuration, resolving classes with l, and returns the errors per
// configuration key (empty when valid), for REST /config/validate.
func ValidateFrom(cfg map[string]string, l Lookup) map[string][]string {
	_, errs := build(cfg, l)
	out := map[string][]string{}
	for _, err := range errs {
		ce := err.(*connect.ConfigError)
		out[ce.Key] = append(out[ce.Key], ce.Msg)
	}
	return out
}

// build constructs the chain, collecting every configuration error (each a
// *connect.ConfigError).
func build(cfg map[string]string, l Lookup) (*Chain, []error) {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, connect.Errorf(key, format, args...))
	}
	predAliases, dupP := aliasList(cfg["predicates"])
	if dupP != "" {
		fail("predicates", "duplicate alias %q", dupP)
	}
	preds := map[string]Predicate{}
	for _, a := range predAliases {
		prefix := "predicates." + a + "."
		key := prefix + "type"
		class := strings.TrimSpace(cfg[key])
		if class == "" {
			fail(key, "missing required configuration")
			continue
		}
		newp, ok := l.Predicate(class)
		if !ok {
			fail(key, "Invalid value %s for configuration %s: unknown predicate class %q (%s)", class, key, class, known(l.PredicateClasses()))
			continue
		}
		p, err := newp(sub(cfg, prefix))
		if err != nil {
			errs = append(errs, prefixed(prefix, err))
			continue
		}
		preds[a] = p
	}
	aliases, dupT := aliasList(cfg["transforms"])
	if dupT != "" {
		fail("transforms", "duplicate alias %q", dupT)
	}
	chain := &Chain{}
	for _, a := range aliases {
		prefix := "transforms." + a + "."
		key := prefix + "type"
		st := stage{alias: a}
		if pa := strings.TrimSpace(cfg[prefix+"predicate"]); pa != "" {
			if !slices.Contains(predAliases, pa) {
				fail(prefix+"predicate", "predicate %q is not declared in \"predicates\"", pa)
			} else {
				st.predicate = preds[pa]
			}
		}
		if nv, ok := cfg[prefix+"negate"]; ok && strings.TrimSpace(nv) != "" {
			b, err := strconv.ParseBool(strings.TrimSpace(nv))
			if err != nil {
				fail(prefix+"negate", "expected true or false, got %q", nv)
			}
			st.negate = b
		}
		class := strings.TrimSpace(cfg[key])
		if class == "" {
			fail(key, "missing required configuration")
			continue
		}
		newt, ok := l.Transformation(class)
		if !ok {
			fail(key, "Invalid value %s for configuration %s: unknown transformation class %q (%s)", class, key, class, known(l.TransformationClasses()))
			continue
		}
		p := sub(cfg, prefix)
		delete(p, "predicate")
		delete(p, "negate")
		t, err := newt(p)
		if err != nil {
			errs = append(errs, prefixed(prefix, err))
			continue
		}
		st.t = t
		chain.stages = append(chain.stages, st)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return chain, nil
}

// prefixed turns a class's configuration error into one naming the
// connector configuration key (prefix + the class's own key), also in the
// message connect.ConfigDef wrote; an error naming no key is reported
// against prefix + "type".
func prefixed(prefix string, err error) error {
	var ce *connect.ConfigError
	if errors.As(err, &ce) {
		msg := strings.ReplaceAll(ce.Msg, `configuration "`+ce.Key+`"`, `configuration "`+prefix+ce.Key+`"`)
		msg = strings.ReplaceAll(msg, "for configuration "+ce.Key+":", "for configuration "+prefix+ce.Key+":")
		return &connect.ConfigError{Key: prefix + ce.Key, Msg: msg}
	}
	return &connect.ConfigError{Key: prefix + "type", Msg: err.Error()}
}

func known(classes []string) string {
	if len(classes) == 0 {
		return "none installed"
	}
	return "known: " + strings.Join(classes, ", ")
}

func aliasList(s string) (aliases []string, dup string) {
	for _, a := range connect.SplitList(s) {
		if slices.Contains(aliases, a) {
			dup = a
			continue
		}
		aliases = append(aliases, a)
	}
	return aliases, dup
}

// sub extracts the parameters under prefix.
func sub(cfg map[string]string, prefix string) map[string]string {
	m := map[string]string{}
	for k, v := range cfg {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "type" {
			m[rest] = v
		}
	}
	return m
}
