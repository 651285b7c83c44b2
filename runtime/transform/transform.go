package transform

import (
	"errors"
	"fmt"
	"slices"
	"sort"
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

// ErrUnknownClass is wrapped by errors for a class name this package does
// not implement.
var ErrUnknownClass = errors.New("unknown transformation or predicate class")

type transformFactory func(p params) (Transformation, error)
type predicateFactory func(p params) (Predicate, error)

func transformFactories() map[string]transformFactory {
	return map[string]transformFactory{
		InsertFieldKey:             func(p params) (Transformation, error) { return newInsertField(p, true) },
		InsertFieldValue:           func(p params) (Transformation, error) { return newInsertField(p, false) },
		ReplaceFieldKey:            func(p params) (Transformation, error) { return newReplaceField(p, true) },
		ReplaceFieldValue:          func(p params) (Transformation, error) { return newReplaceField(p, false) },
		MaskFieldKey:               func(p params) (Transformation, error) { return newMaskField(p, true) },
		MaskFieldValue:             func(p params) (Transformation, error) { return newMaskField(p, false) },
		ValueToKeyClass:            func(p params) (Transformation, error) { return newValueToKey(p) },
		ExtractFieldKey:            func(p params) (Transformation, error) { return newExtractField(p, true) },
		ExtractFieldValue:          func(p params) (Transformation, error) { return newExtractField(p, false) },
		RegexRouterClass:           func(p params) (Transformation, error) { return newRegexRouter(p) },
		TimestampRouterClass:       func(p params) (Transformation, error) { return newTimestampRouter(p) },
		FilterClass:                func(p params) (Transformation, error) { return Filter{}, nil },
		ExtractNewRecordStateClass: func(p params) (Transformation, error) { return newExtractNewRecordState(p) },
		TimestampConverterKey:      func(p params) (Transformation, error) { return newTimestampConverter(p, true) },
		TimestampConverterValue:    func(p params) (Transformation, error) { return newTimestampConverter(p, false) },
		CastKey:                    func(p params) (Transformation, error) { return newCast(p, true) },
		CastValue:                  func(p params) (Transformation, error) { return newCast(p, false) },
		HeaderFromKey:              func(p params) (Transformation, error) { return newHeaderFrom(p, true) },
		HeaderFromValue:            func(p params) (Transformation, error) { return newHeaderFrom(p, false) },
		FlattenKey:                 func(p params) (Transformation, error) { return newFlatten(p, true) },
		FlattenValue:               func(p params) (Transformation, error) { return newFlatten(p, false) },
		HoistFieldKey:              func(p params) (Transformation, error) { return newHoistField(p, true) },
		HoistFieldValue:            func(p params) (Transformation, error) { return newHoistField(p, false) },
		InsertHeaderClass:          func(p params) (Transformation, error) { return newInsertHeader(p) },
		DropHeadersClass:           func(p params) (Transformation, error) { return newDropHeaders(p) },
		SetSchemaMetadataKey:       func(p params) (Transformation, error) { return newSetSchemaMetadata(p, true) },
		SetSchemaMetadataValue:     func(p params) (Transformation, error) { return newSetSchemaMetadata(p, false) },
	}
}

func predicateFactories() map[string]predicateFactory {
	return map[string]predicateFactory{
		TopicNameMatches:  func(p params) (Predicate, error) { return newTopicNameMatches(p) },
		HasHeaderKey:      func(p params) (Predicate, error) { return newHasHeaderKey(p) },
		RecordIsTombstone: func(p params) (Predicate, error) { return tombstonePredicate{}, nil },
	}
}

// resolveClass maps a class name to its canonical full name. It accepts the
// full Kafka/Debezium name and, as a convenience, the simple name after the
// last dot (e.g. "InsertField$Value", "ExtractNewRecordState").
func resolveClass[F any](class string, known map[string]F) (string, bool) {
	class = strings.TrimSpace(class)
	if _, ok := known[class]; ok {
		return class, true
	}
	for full := range known {
		if i := strings.LastIndexByte(full, '.'); i >= 0 && full[i+1:] == class {
			return full, true
		}
	}
	return "", false
}

// Classes returns the transformation class names NewChain accepts, sorted.
func Classes() []string { return sortedKeys(transformFactories()) }

// PredicateClasses returns the predicate class names NewChain accepts, sorted.
func PredicateClasses() []string { return sortedKeys(predicateFactories()) }

func sortedKeys[F any](m map[string]F) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns one transformation of the given class configured with its own
// parameters (keys without the "transforms.<alias>." prefix).
func New(class string, cfg map[string]string) (Transformation, error) {
	f := transformFactories()
	full, ok := resolveClass(class, f)
	if !ok {
		return nil, connect.Errorf("type", "unknown transformation class %q", class)
	}
	return f[full](params{m: cfg})
}

// NewPredicate returns one predicate of the given class configured with its
// own parameters (keys without the "predicates.<alias>." prefix).
func NewPredicate(class string, cfg map[string]string) (Predicate, error) {
	f := predicateFactories()
	full, ok := resolveClass(class, f)
	if !ok {
		return nil, connect.Errorf("type", "unknown predicate class %q", class)
	}
	return f[full](params{m: cfg})
}

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

// NewChain builds the chain declared in a connector configuration: the
// "transforms" alias list, transforms.<alias>.type (a Kafka Connect or
// Debezium class name), transforms.<alias>.predicate and .negate, the
// "predicates" alias list and predicates.<alias>.type, and each one's
// parameters. The first error is returned as a *connect.ConfigError naming
// the exact key at fault. A configuration without transforms yields an
// empty chain.
func NewChain(cfg map[string]string) (*Chain, error) {
	c, errs := build(cfg)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return c, nil
}

// Validate checks the transforms and predicates of a connector
// configuration and returns the errors per configuration key (empty when
// valid), for REST /config/validate.
func Validate(cfg map[string]string) map[string][]string {
	_, errs := build(cfg)
	out := map[string][]string{}
	for _, err := range errs {
		ce := err.(*connect.ConfigError)
		out[ce.Key] = append(out[ce.Key], ce.Msg)
	}
	return out
}

// build constructs the chain, collecting every configuration error (each a
// *connect.ConfigError).
func build(cfg map[string]string) (*Chain, []error) {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, connect.Errorf(key, format, args...))
	}
	predAliases, dupP := aliasList(cfg["predicates"])
	if dupP != "" {
		fail("predicates", "duplicate alias %q", dupP)
	}
	preds := map[string]Predicate{}
	pf := predicateFactories()
	for _, a := range predAliases {
		key := "predicates." + a + ".type"
		class := strings.TrimSpace(cfg[key])
		if class == "" {
			fail(key, "missing required configuration")
			continue
		}
		full, ok := resolveClass(class, pf)
		if !ok {
			fail(key, "unknown predicate class %q (known: %s)", class, strings.Join(PredicateClasses(), ", "))
			continue
		}
		p, err := pf[full](sub(cfg, "predicates."+a+"."))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		preds[a] = p
	}
	aliases, dupT := aliasList(cfg["transforms"])
	if dupT != "" {
		fail("transforms", "duplicate alias %q", dupT)
	}
	tf := transformFactories()
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
		full, ok := resolveClass(class, tf)
		if !ok {
			fail(key, "unknown transformation class %q (known: %s)", class, strings.Join(Classes(), ", "))
			continue
		}
		p := sub(cfg, prefix)
		delete(p.m, "predicate")
		delete(p.m, "negate")
		t, err := tf[full](p)
		if err != nil {
			errs = append(errs, err)
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
func sub(cfg map[string]string, prefix string) params {
	m := map[string]string{}
	for k, v := range cfg {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "type" {
			m[rest] = v
		}
	}
	return params{prefix: prefix, m: m}
}

// params is a transformation's own configuration; prefix is prepended to
// keys in errors so they name the connector configuration key.
type params struct {
	prefix string
	m      map[string]string
}

func (p params) errf(key, format string, args ...any) error {
	return connect.Errorf(p.prefix+key, format, args...)
}

func (p params) has(key string) bool {
	_, ok := p.m[key]
	return ok
}

func (p params) str(key, def string) string {
	if v, ok := p.m[key]; ok {
		return v
	}
	return def
}

func (p params) required(key string) (string, error) {
	v, ok := p.m[key]
	if !ok || strings.TrimSpace(v) == "" {
		return "", p.errf(key, "missing required configuration")
	}
	return v, nil
}

func (p params) list(key string) []string { return connect.SplitList(p.m[key]) }

func (p params) boolean(key string, def bool) (bool, error) {
	v, ok := p.m[key]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, p.errf(key, "expected true or false, got %q", v)
	}
	return b, nil
}

func (p params) oneOf(key, def string, allowed ...string) (string, error) {
	v := strings.TrimSpace(p.str(key, def))
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, nil
		}
	}
	return "", p.errf(key, "invalid value %q, must be one of %s", v, strings.Join(allowed, ", "))
}
