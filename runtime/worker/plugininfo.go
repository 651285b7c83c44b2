package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/transform"
)

// Plugin types of GET /connector-plugins besides source and sink, as
// Kafka Connect names them.
const (
	pluginTransformation  = "transformation"
	pluginPredicate       = "predicate"
	pluginConverter       = "converter"
	pluginHeaderConverter = "header_converter"
)

// builtinVersion is the version reported for built-in plugins.
func (w *Worker) builtinVersion() string {
	if w.o.version != "" {
		return w.o.version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// builtinPlugins lists the transformations, predicates, converters and
// header converters built into sluice.
func (w *Worker) builtinPlugins() []api.PluginInfo {
	v := w.builtinVersion()
	var out []api.PluginInfo
	add := func(typ string, classes ...string) {
		for _, c := range classes {
			out = append(out, api.PluginInfo{Class: c, Type: typ, Version: v})
		}
	}
	add(pluginTransformation, transform.Classes()...)
	add(pluginPredicate, transform.PredicateClasses()...)
	add(pluginConverter, convert.Classes()...)
	// Kafka lists converters that also implement HeaderConverter; sluice's
	// header converters are SimpleHeaderConverter and the converters
	// NewHeaderConverter adapts.
	add(pluginHeaderConverter, convert.SimpleHeaderClass, convert.StringClass, convert.JSONClass, convert.ByteArrayClass)
	return out
}

// PluginConfig describes the config keys of a connector (the worker's
// connector keys and the plugin's), transformation, predicate, converter
// or header converter, for GET /connector-plugins/{plugin}/config. An
// unknown plugin is api.ErrNotFound ("Unknown plugin").
func (w *Worker) PluginConfig(ctx context.Context, plugin string) ([]api.ConfigKeyInfo, error) {
	plugin = strings.TrimSpace(plugin)
	if _, ok := w.plugin(plugin); ok {
		infos, err := w.ValidateConfig(ctx, plugin, map[string]string{"connector.class": plugin})
		if err != nil {
			return nil, err
		}
		out := make([]api.ConfigKeyInfo, 0, len(infos.Configs))
		for _, c := range infos.Configs {
			out = append(out, c.Definition)
		}
		return out, nil
	}
	def, err := transform.ConfigDef(plugin)
	if err != nil {
		def, err = convert.ConfigDef(plugin)
	}
	if err != nil {
		return nil, fmt.Errorf("Unknown plugin %s.: %w", plugin, api.ErrNotFound)
	}
	return keyInfos(def), nil
}

// keyInfos renders a ConfigDef as REST key definitions; order is the
// key's 1-based position in its group.
func keyInfos(def connect.ConfigDef) []api.ConfigKeyInfo {
	out := make([]api.ConfigKeyInfo, 0, len(def))
	order := map[string]int{}
	for _, k := range def {
		order[k.Group]++
		out = append(out, keyInfo(k, order[k.Group]))
	}
	return out
}

func keyInfo(k connect.ConfigKey, order int) api.ConfigKeyInfo {
	ki := api.ConfigKeyInfo{Name: k.Name, Type: string(k.Type), Required: !k.HasDefault, Importance: string(k.Importance),
		Documentation: k.Doc, Group: k.Group, Order: order, Width: "NONE", DisplayName: k.Name, Dependents: []string{}}
	if k.HasDefault {
		d := k.Default
		ki.DefaultValue = &d
	}
	return ki
}
