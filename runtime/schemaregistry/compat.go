package schemaregistry

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// Compatibility is a compatibility level, as in Confluent Schema Registry.
type Compatibility string

// Compatibility levels.
const (
	None               Compatibility = "NONE"
	Backward           Compatibility = "BACKWARD"
	BackwardTransitive Compatibility = "BACKWARD_TRANSITIVE"
	Forward            Compatibility = "FORWARD"
	ForwardTransitive  Compatibility = "FORWARD_TRANSITIVE"
	Full               Compatibility = "FULL"
	FullTransitive     Compatibility = "FULL_TRANSITIVE"
)

// ParseCompatibility parses a level name (case-insensitive).
func ParseCompatibility(s string) (Compatibility, error) {
	c := Compatibility(strings.ToUpper(strings.TrimSpace(s)))
	switch c {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return c, nil
	}
	return "", fmt.Errorf("invalid compatibility level %q (NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE)", s)
}

func (c Compatibility) transitive() bool { return strings.HasSuffix(string(c), "_TRANSITIVE") }

// CheckCompatibility checks candidate against existing (oldest first) under
// level and returns one message per violation (none when compatible).
// BACKWARD: candidate can read data written with the latest schema;
// FORWARD: the latest schema can read data written with candidate; FULL:
// both; the _TRANSITIVE forms check every existing schema, not only the
// latest. Reading follows Avro's schema-resolution rules.
func CheckCompatibility(level Compatibility, candidate avro.Schema, existing []avro.Schema) []string {
	if level == None || len(existing) == 0 {
		return nil
	}
	against := existing[len(existing)-1:]
	if level.transitive() {
		against = existing
	}
	sc := avro.NewSchemaCompatibility()
	var msgs []string
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		if level == Backward || level == BackwardTransitive || level == Full || level == FullTransitive {
			if err := sc.Compatible(candidate, old); err != nil {
				msgs = append(msgs, fmt.Sprintf("new schema cannot read data written with an existing schema: %v", err))
			}
		}
		if level == Forward || level == ForwardTransitive || level == Full || level == FullTransitive {
			if err := sc.Compatible(old, candidate); err != nil {
				msgs = append(msgs, fmt.Sprintf("an existing schema cannot read data written with the new schema: %v", err))
			}
		}
	}
	return msgs
}
