package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/plugin"
)

// builtinVersion is the version reported for built-in plugins: v if set,
// else the main module's version from the build info, else "dev".
func builtinVersion(v string) string {
	if v != "" {
		return v
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// builtinPlugins lists the registry's transformations, predicates,
// converters and header converters.
func (w *Worker) builtinPlugins() []api.PluginInfo {
	var out []api.PluginInfo
	for _, s := range w.reg.All(plugin.Transformation, plugin.Predicate, plugin.Converter, plugin.HeaderConverter) {
		out = append(out, api.PluginInfo{Class: s.Class, Type: string(s.Kind), Version: s.Version})
	}
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
	s, ok := w.reg.Find(plugin)
	if !ok || s.Kind.IsConnector() {
		return nil, fmt.Errorf("Unknown plugin %s.: %w", plugin, api.ErrNotFound)
	}
	return keyInfos(s.ConfigDef()), nil
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
