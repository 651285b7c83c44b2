package worker

import (
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"
)

// hidden replaces secret values in responses and logs.
const hidden = "[hidden]"

// ProviderError reports a config provider reference that cannot be
// resolved.
type ProviderError struct {
	Key, Ref, Msg string
}

// Error implements error.
func (e *ProviderError) Error() string {
	return fmt.Sprintf("config %s: cannot resolve %s: %s", e.Key, e.Ref, e.Msg)
}

// resolveConfig replaces ${env:VAR} and ${file:/path:key} references (the
// file being a Java properties file) with their values. The stored config
// keeps the references; only running connectors and tasks see values.
func resolveConfig(raw map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	files := map[string]map[string]string{}
	for k, v := range raw {
		r, err := resolveValue(k, v, files)
		if err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, nil
}

func hasReference(v string) bool {
	return strings.Contains(v, "${env:") || strings.Contains(v, "${file:")
}

func resolveValue(key, v string, files map[string]map[string]string) (string, error) {
	if !hasReference(v) {
		return v, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			return b.String(), nil
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			b.WriteString(v)
			return b.String(), nil
		}
		ref := v[i : i+j+1]
		body := ref[2 : len(ref)-1]
		b.WriteString(v[:i])
		v = v[i+j+1:]
		switch {
		case strings.HasPrefix(body, "env:"):
			name := strings.TrimPrefix(body, "env:")
			val, ok := os.LookupEnv(name)
			if !ok {
				return "", &ProviderError{key, ref, "environment variable not set"}
			}
			b.WriteString(val)
		case strings.HasPrefix(body, "file:"):
			rest := strings.TrimPrefix(body, "file:")
			k := strings.LastIndexByte(rest, ':')
			if k <= 0 {
				return "", &ProviderError{key, ref, "expected ${file:/path:key}"}
			}
			path, fk := rest[:k], rest[k+1:]
			props, ok := files[path]
			if !ok {
				p, err := LoadProperties(path)
				if err != nil {
					return "", &ProviderError{key, ref, err.Error()}
				}
				files[path], props = p, p
			}
			val, ok := props[fk]
			if !ok {
				return "", &ProviderError{key, ref, "key " + fk + " not in file"}
			}
			b.WriteString(val)
		default:
			b.WriteString(ref) // unknown provider: left as is, like Kafka
		}
	}
}

// reverseResolve puts references back into a task config generated from a
// resolved connector config, so resolved secrets are never stored.
func reverseResolve(task, raw, resolved map[string]string) map[string]string {
	out := maps.Clone(task)
	for k, v := range out {
		if rv, ok := raw[k]; ok && hasReference(rv) && resolved[k] == v {
			out[k] = rv
		}
	}
	return out
}

// secretValues returns the values that must never appear in messages: the
// raw and resolved values of secret keys and every provider-resolved value.
func (w *Worker) secretValues(raw map[string]string) []string {
	def := w.configDefFor(raw["connector.class"])
	resolved, _ := resolveConfig(raw)
	var out []string
	add := func(v string) {
		if len(v) >= 3 && !hasReference(v) {
			out = append(out, v)
		}
	}
	for k, v := range raw {
		if def.Secret(k) {
			add(v)
			add(resolved[k])
		} else if hasReference(v) && resolved != nil {
			add(resolved[k])
		}
	}
	// Longest first so a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact replaces secret values in a message with "[hidden]".
//
// Delivery invariant 9 (DESIGN.md): secrets never reach traces or logs.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, hidden)
	}
	return msg
}

// masked returns cfg with secrets replaced by "[hidden]" (keys the plugin
// declares PASSWORD, or whose names look secret) when the worker masks
// secrets (sluice.rest.mask.secrets); otherwise cfg verbatim, as Kafka.
func (w *Worker) masked(cfg map[string]string) map[string]string {
	out := maps.Clone(cfg)
	if !w.cfg.MaskSecrets {
		return out
	}
	def := w.configDefFor(cfg["connector.class"])
	for k, v := range out {
		if v != "" && !hasReference(v) && def.Secret(k) {
			out[k] = hidden
		}
	}
	return out
}

// MasksSecrets reports whether REST answers mask secret config values
// (sluice.rest.mask.secrets); the REST server asks it.
func (w *Worker) MasksSecrets() bool { return w.cfg.MaskSecrets }
