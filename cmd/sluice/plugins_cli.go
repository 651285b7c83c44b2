package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/runtime/plugin"
)

// runListPlugins prints the registry: every plugin's kind, class, aliases
// and version, or with -config CLASS that plugin's configuration keys.
func runListPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list-plugins", "List the connectors, transformations, predicates, converters and header converters built into sluice.", stderr)
	kind := fs.String("kind", "", "only this kind: source, sink, transformation, predicate, converter or header_converter")
	config := fs.String("config", "", "print the configuration keys of this plugin (class or alias)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	reg, err := registry()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	if *config != "" {
		s, ok := reg.Find(*config)
		if !ok {
			return &exitError{code: 2, err: fmt.Errorf("unknown plugin %q", *config)}
		}
		fmt.Fprintln(tw, "NAME\tTYPE\tDEFAULT\tIMPORTANCE\tDOCUMENTATION")
		for _, k := range s.ConfigDef() {
			def := "(required)"
			if k.HasDefault {
				def = k.Default
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Type, def, k.Importance, k.Doc)
		}
		return tw.Flush()
	}
	var kinds []plugin.Kind
	if *kind != "" {
		kinds = append(kinds, plugin.Kind(*kind))
	}
	fmt.Fprintln(tw, "TYPE\tCLASS\tALIASES\tVERSION")
	for _, s := range reg.All(kinds...) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Kind, s.Class, strings.Join(s.Aliases, ","), s.Version)
	}
	return tw.Flush()
}
