package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/plugin"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// configDefFor returns the plugin's ConfigDef, or nil.
func (w *Worker) configDefFor(class string) connect.ConfigDef {
	p, ok := w.plugin(class)
	if !ok {
		return nil
	}
	c := p.New()
	if c == nil {
		return nil
	}
	return c.ConfigDef()
}

// converterValidator checks a key.converter/value.converter class
// (header: header.converter) against the registry and the converter's
// constructor, with the converter's own keys from cfg (key under prefix).
func (w *Worker) converterValidator(kind plugin.Kind, isKey bool, cfg map[string]string, prefix string) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		// The constructors the running task uses (pipeline.go).
		var err error
		if kind == plugin.HeaderConverter {
			_, err = w.reg.NewHeaderConverter(v, prefixed(cfg, prefix+"."))
		} else {
			_, err = w.reg.NewConverter(v, prefixed(cfg, prefix+"."), isKey)
		}
		return err
	}
}

// workerDef declares the connector keys the worker itself interprets.
// cfg is the configuration being validated (for the converters' own keys).
func (w *Worker) workerDef(sink bool, cfg map[string]string) connect.ConfigDef {
	converters := w.reg.Classes(plugin.Converter)
	d := connect.ConfigDef{
		{Name: "name", Type: connect.TypeString, Importance: connect.High, Group: "Common", Doc: "Globally unique name to use for this connector.",
			Validate: func(v string) error {
				if strings.TrimSpace(v) == "" {
					return fmt.Errorf("must not be empty")
				}
				return nil
			}},
		{Name: "connector.class", Type: connect.TypeString, Importance: connect.High, Group: "Common", Doc: "Name or alias of the connector class."},
		{Name: "tasks.max", Type: connect.TypeInt, Default: "1", HasDefault: true, Importance: connect.High, Group: "Common", Doc: "Maximum number of tasks to use for this connector.", Validate: connect.AtLeast(1)},
		{Name: "key.converter", Type: connect.TypeClass, HasDefault: true, Importance: connect.Low, Group: "Common", Doc: "Converter for record keys; overrides the worker's.", Validate: w.converterValidator(plugin.Converter, true, cfg, "key.converter"), Recommended: converters},
		{Name: "value.converter", Type: connect.TypeClass, HasDefault: true, Importance: connect.Low, Group: "Common", Doc: "Converter for record values; overrides the worker's.", Validate: w.converterValidator(plugin.Converter, false, cfg, "value.converter"), Recommended: converters},
		{Name: "header.converter", Type: connect.TypeClass, HasDefault: true, Importance: connect.Low, Group: "Common", Doc: "Header converter for record headers; overrides the worker's (default SimpleHeaderConverter).", Validate: w.converterValidator(plugin.HeaderConverter, false, cfg, "header.converter"), Recommended: w.reg.Classes(plugin.HeaderConverter)},
		{Name: "transforms", Type: connect.TypeList, HasDefault: true, Importance: connect.Low, Group: "Transforms", Doc: "Aliases of the transformations to apply to records."},
		{Name: "predicates", Type: connect.TypeList, HasDefault: true, Importance: connect.Low, Group: "Predicates", Doc: "Aliases of the predicates used by transformations."},
		{Name: "errors.retry.timeout", Type: connect.TypeLong, Default: "0", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Maximum duration in milliseconds a failed operation is retried; 0 = no retries, -1 = forever.", Validate: connect.AtLeast(-1)},
		{Name: "errors.retry.delay.max.ms", Type: connect.TypeLong, Default: "60000", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Maximum delay between consecutive retries, in milliseconds (record operations: default 60000; task start retries: default 10000, Debezium's).", Validate: connect.AtLeast(1)},
		{Name: "errors.max.retries", Type: connect.TypeInt, Default: "-1", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Retries of a task start (Open) that failed with a retriable error, such as an unreachable database, before the task is FAILED: -1 = no limit, 0 = none (Debezium's semantics).", Validate: connect.AtLeast(-1)},
		{Name: "errors.retry.delay.initial.ms", Type: connect.TypeLong, Default: "300", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Delay before the first task start retry, in milliseconds; it doubles on every retry up to errors.retry.delay.max.ms.", Validate: connect.AtLeast(1)},
		{Name: "errors.tolerance", Type: connect.TypeString, Default: "none", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "none fails the task on a record error; all skips problematic records.", Validate: connect.OneOf("none", "all"), Recommended: []string{"none", "all"}},
		{Name: "errors.log.enable", Type: connect.TypeBoolean, Default: "false", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Log errors and failed operations."},
		{Name: "errors.log.include.messages", Type: connect.TypeBoolean, Default: "false", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Include the failed record in the log."},
	}
	if sink {
		d = append(d,
			connect.ConfigKey{Name: "topics", Type: connect.TypeList, HasDefault: true, Importance: connect.High, Group: "Common", Doc: "Topics to consume (or use topics.regex)."},
			connect.ConfigKey{Name: "topics.regex", Type: connect.TypeString, HasDefault: true, Importance: connect.High, Group: "Common", Doc: "Regular expression of topics to consume.",
				Validate: func(v string) error {
					if v == "" {
						return nil
					}
					_, err := regexp.Compile(v)
					return err
				}},
			connect.ConfigKey{Name: "errors.deadletterqueue.topic.name", Type: connect.TypeString, HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Dead letter queue topic for records that failed (with errors.tolerance=all)."},
			connect.ConfigKey{Name: "errors.deadletterqueue.topic.replication.factor", Type: connect.TypeInt, Default: "-1", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Replication factor of the dead letter queue topic when it is created; -1 (sluice's default, Kafka's is 3) uses the broker default.", Validate: func(v string) error {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n == 0 || n < -1 {
					return fmt.Errorf("must be a positive replication factor or -1")
				}
				return nil
			}},
			connect.ConfigKey{Name: "errors.deadletterqueue.context.headers.enable", Type: connect.TypeBoolean, Default: "false", HasDefault: true, Importance: connect.Medium, Group: "Error Handling", Doc: "Add __connect.errors.* headers describing the failure."},
		)
	}
	return d
}

// ValidateConfig validates a connector config against the worker's keys and
// the plugin's ConfigDef, like PUT /connector-plugins/{class}/config/validate.
func (w *Worker) ValidateConfig(ctx context.Context, class string, cfg map[string]string) (api.ConfigInfos, error) {
	if strings.TrimSpace(class) == "" {
		class = cfg["connector.class"]
	}
	p, known := w.plugin(class)
	if strings.TrimSpace(class) != "" && !known {
		return api.ConfigInfos{}, fmt.Errorf("Failed to find any class that implements Connector and which name matches %s: %w", class, api.ErrBadRequest)
	}
	resolved := make(map[string]string, len(cfg))
	providerErrs := map[string]string{}
	files := map[string]map[string]string{}
	for k, v := range cfg {
		r, err := resolveValue(k, v, files)
		if err != nil {
			providerErrs[k] = err.Error()
			r = v
		}
		resolved[k] = r
	}
	if _, ok := resolved["connector.class"]; !ok && class != "" {
		resolved["connector.class"] = class
	}
	sink := known && p.Type == "sink"
	wdef := w.workerDef(sink, resolved)
	var pdef connect.ConfigDef
	var inst connect.Connector
	if known {
		if inst = p.New(); inst != nil {
			pdef = inst.ConfigDef()
		}
	}
	infos := api.ConfigInfos{Name: class, Groups: []string{}, Configs: []api.ConfigInfo{}}
	if known {
		infos.Name = p.Class
	}
	var secrets []string
	for k, v := range cfg {
		if (pdef.Secret(k) || hasReference(v)) && len(resolved[k]) >= 3 {
			secrets = append(secrets, resolved[k])
		}
		if pdef.Secret(k) && len(v) >= 3 && !hasReference(v) {
			secrets = append(secrets, v)
		}
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	groups := map[string]bool{}
	order := map[string]int{}
	seen := map[string]bool{}
	add := func(k connect.ConfigKey, cv connect.ConfigValue, secret bool) {
		if seen[k.Name] {
			return
		}
		seen[k.Name] = true
		if k.Group != "" && !groups[k.Group] {
			groups[k.Group] = true
			infos.Groups = append(infos.Groups, k.Group)
		}
		if msg, ok := providerErrs[k.Name]; ok {
			cv.Errors = append(cv.Errors, msg)
		}
		order[k.Group]++
		ki := keyInfo(k, order[k.Group])
		for i, e := range cv.Errors {
			cv.Errors[i] = redact(e, secrets)
		}
		vi := api.ConfigValueInfo{Name: k.Name, RecommendedValues: k.Recommended, Errors: cv.Errors, Visible: true}
		if vi.RecommendedValues == nil {
			vi.RecommendedValues = []string{}
		}
		if vi.Errors == nil {
			vi.Errors = []string{}
		}
		if raw, ok := cfg[k.Name]; ok {
			v := raw
			if secret && !hasReference(raw) {
				v = hidden
			}
			vi.Value = &v
		} else if k.HasDefault && k.Default != "" {
			d := k.Default
			vi.Value = &d
		}
		infos.ErrorCount += len(vi.Errors)
		infos.Configs = append(infos.Configs, api.ConfigInfo{Definition: ki, Value: vi})
	}
	wvals := wdef.Validate(resolved)
	for i, k := range wdef {
		cv := wvals[i]
		switch k.Name {
		case "connector.class":
			if len(cv.Errors) == 0 && strings.TrimSpace(resolved["connector.class"]) == "" {
				cv.Errors = append(cv.Errors, `Missing required configuration "connector.class" which has no default value.`)
			}
		case "topics", "topics.regex":
			hasTopics := len(connect.SplitList(resolved["topics"])) > 0
			hasRegex := strings.TrimSpace(resolved["topics.regex"]) != ""
			if hasTopics && hasRegex {
				cv.Errors = append(cv.Errors, "Must configure one of topics or topics.regex, not both.")
			} else if !hasTopics && !hasRegex {
				cv.Errors = append(cv.Errors, "Must configure one of topics or topics.regex.")
			}
			if k.Name == "topics" && hasTopics {
				dlq := strings.TrimSpace(resolved["errors.deadletterqueue.topic.name"])
				for _, t := range connect.SplitList(resolved["topics"]) {
					if dlq != "" && t == dlq {
						cv.Errors = append(cv.Errors, fmt.Sprintf("The DLQ topic '%s' may not be included in the list of topics ('topics=%s') consumed by the connector", dlq, resolved["topics"]))
					}
				}
			}
		}
		add(k, cv, false)
	}
	for field, msgs := range w.validateTransforms(resolved) {
		k := connect.ConfigKey{Name: field, Type: connect.TypeString, HasDefault: true, Importance: connect.Low, Group: "Transforms"}
		add(k, connect.ConfigValue{Name: field, Errors: msgs}, false)
	}
	if pdef != nil {
		pvals := pdef.Validate(resolved)
		for i, k := range pdef {
			add(k, pvals[i], k.Type == connect.TypePassword || pdef.Secret(k.Name))
		}
	}
	// The rules Start applies beyond the ConfigDef, once the keys are valid.
	if cv, ok := inst.(connect.ConfigValidator); ok && infos.ErrorCount == 0 {
		parsed, err := pdef.Parse(resolved)
		if err == nil {
			err = cv.ValidateConfig(parsed)
		}
		if err != nil {
			key, msg := "connector.class", err.Error()
			var ce *connect.ConfigError
			if errors.As(err, &ce) && ce.Key != "" {
				shown := cfg[ce.Key]
				if pdef.Secret(ce.Key) && !hasReference(shown) {
					shown = hidden
				}
				key, msg = ce.Key, fmt.Sprintf("Invalid value %s for configuration %s: %s", shown, ce.Key, ce.Msg)
			}
			msg = redact(msg, secrets)
			attached := false
			for i := range infos.Configs {
				if infos.Configs[i].Definition.Name == key {
					infos.Configs[i].Value.Errors = append(infos.Configs[i].Value.Errors, msg)
					infos.ErrorCount++
					attached = true
					break
				}
			}
			if !attached {
				add(connect.ConfigKey{Name: key, Type: connect.TypeString, HasDefault: true, Importance: connect.Low}, connect.ConfigValue{Name: key, Errors: []string{msg}}, false)
			}
		}
	}
	// Provider errors on keys nobody declared.
	for k, msg := range providerErrs {
		if !seen[k] {
			add(connect.ConfigKey{Name: k, Type: connect.TypeString, HasDefault: true, Importance: connect.Low}, connect.ConfigValue{Name: k, Errors: []string{msg}}, false)
		}
	}
	return infos, nil
}
