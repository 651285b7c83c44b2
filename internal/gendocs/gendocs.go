// Package gendocs renders plugin ConfigDefs as Markdown tables and splices
// them into documentation between marker comments:
//
//	<!-- config:begin ID -->
//	(generated table)
//	<!-- config:end ID -->
//
// Text outside the markers is left untouched. cmd/sluice's
// TestConnectorConfigDocs checks docs/connectors/*.md against the plugin
// registry and rewrites the blocks with -update.
package gendocs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Begin and End return the marker comments of block id.
func Begin(id string) string { return "<!-- config:begin " + id + " -->" }

// End returns the closing marker of block id.
func End(id string) string { return "<!-- config:end " + id + " -->" }

// Table renders def as a Markdown table: key, type, default, importance
// and documentation, one row per key in declaration order. A key without
// a default is "required"; an empty default is shown as "".
func Table(def connect.ConfigDef) string {
	var b strings.Builder
	b.WriteString("| key | type | default | importance | description |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, k := range def {
		def := "required"
		if k.HasDefault {
			def = "`" + k.Default + "`"
			if k.Default == "" {
				def = `""`
			}
		}
		doc := k.Doc
		if len(k.Recommended) > 0 && !strings.Contains(doc, k.Recommended[0]) {
			doc = strings.TrimSpace(doc + " One of: " + strings.Join(k.Recommended, ", ") + ".")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Name, strings.ToLower(string(k.Type)), cell(def), strings.ToLower(string(k.Importance)), cell(doc))
	}
	return b.String()
}

// cell makes s safe inside one table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Splice returns doc with the text between block id's markers replaced by
// body. It fails when a marker is missing, repeated or out of order.
func Splice(doc []byte, id, body string) ([]byte, error) {
	begin, end := []byte(Begin(id)), []byte(End(id))
	if n := bytes.Count(doc, begin); n != 1 {
		return nil, fmt.Errorf("gendocs: %d %q markers, want 1", n, Begin(id))
	}
	if n := bytes.Count(doc, end); n != 1 {
		return nil, fmt.Errorf("gendocs: %d %q markers, want 1", n, End(id))
	}
	i := bytes.Index(doc, begin) + len(begin)
	j := bytes.Index(doc, end)
	if j < i {
		return nil, fmt.Errorf("gendocs: %q before %q", End(id), Begin(id))
	}
	out := make([]byte, 0, len(doc)+len(body))
	out = append(out, doc[:i]...)
	out = append(out, '\n')
	out = append(out, body...)
	out = append(out, doc[j:]...)
	return out, nil
}
