// Command srclient-go exercises a schema registry with the Go client of
// confluent-kafka-go's schemaregistry package. It is its own module so
// that sluice's go.mod does not carry that client's dependencies.
//
//	go run . <registry-url>
//
// It registers a schema, fetches it back by id and by subject version,
// checks compatibility, and prints one JSON line with what it saw.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
)

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(url string) error {
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		return err
	}
	v1 := `{"type":"record","name":"GoOrder","namespace":"com.example","fields":[{"name":"id","type":"long"}]}`
	v2 := `{"type":"record","name":"GoOrder","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}`
	bad := `{"type":"record","name":"GoOrder","namespace":"com.example","fields":[{"name":"id","type":"string"}]}`
	id1, err := c.Register("go-orders-value", schemaregistry.SchemaInfo{Schema: v1}, false)
	if err != nil {
		return fmt.Errorf("register v1: %w", err)
	}
	id2, err := c.Register("go-orders-value", schemaregistry.SchemaInfo{Schema: v2}, false)
	if err != nil {
		return fmt.Errorf("register v2: %w", err)
	}
	info, err := c.GetBySubjectAndID("go-orders-value", id1)
	if err != nil {
		return fmt.Errorf("get by id: %w", err)
	}
	latest, err := c.GetLatestSchemaMetadata("go-orders-value")
	if err != nil {
		return fmt.Errorf("latest: %w", err)
	}
	versions, err := c.GetAllVersions("go-orders-value")
	if err != nil {
		return fmt.Errorf("versions: %w", err)
	}
	okCompat, err := c.TestCompatibility("go-orders-value", -1, schemaregistry.SchemaInfo{Schema: v2})
	if err != nil {
		return fmt.Errorf("compat: %w", err)
	}
	badCompat, err := c.TestCompatibility("go-orders-value", -1, schemaregistry.SchemaInfo{Schema: bad})
	if err != nil {
		return fmt.Errorf("compat bad: %w", err)
	}
	subjects, err := c.GetAllSubjects()
	if err != nil {
		return fmt.Errorf("subjects: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"id1": id1, "id2": id2, "schemaById": info.Schema, "latestVersion": latest.Version, "latestId": latest.ID,
		"versions": versions, "compatible": okCompat, "incompatible": !badCompat, "subjects": subjects,
	})
}
