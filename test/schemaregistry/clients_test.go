// Package schemaregistry_test checks sluice's schema registry and
// AvroConverter with third-party clients and connectors.
package schemaregistry_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/schemaregistry"
)

// startRegistry runs a registry on brokers and returns its URL.
func startRegistry(t testing.TB, brokers string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := schemaregistry.New(ctx, schemaregistry.WithBrokers(brokers), schemaregistry.WithAdvertisedURL(url),
		schemaregistry.WithElectionSessionTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); r.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for !r.IsPrimary() {
		if time.Now().After(deadline) {
			t.Fatal("registry never became primary")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url
}

// TestKafkajsSchemaRegistryClient: @kafkajs/confluent-schema-registry
// decodes a record sluice's AvroConverter wrote, fetches its schema by
// id, registers its own schema and encodes a record that the converter
// decodes.
func TestKafkajsSchemaRegistryClient(t *testing.T) {
	dir := testenv.NodeClientsDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@kafkajs", "confluent-schema-registry")); err != nil {
		t.Fatalf("@kafkajs/confluent-schema-registry is not installed in %s (scripts/setup installs it): %v", dir, err)
	}
	url := startRegistry(t, testenv.StartBroker(t))
	conv, err := convert.New(convert.AvroClass, map[string]string{convert.SchemaRegistryURLConfig: url}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := connect.NewStruct().Name("com.example.Order").
		Field("id", connect.Int64Schema).
		Field("customer", connect.StringSchema).
		Field("note", connect.OptionalStringSchema).
		Field("qty", connect.Int32Schema).
		Field("ratio", connect.Float64Schema).
		Build()
	v := connect.NewStructValue(s).Set("id", int64(7)).Set("customer", "grace").Set("note", "hi").Set("qty", int32(2)).Set("ratio", 0.5)
	data, err := conv.FromConnect("orders", s, v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "schema-registry.js", url, hex.EncodeToString(data))
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node schema-registry.js: %v\n%s\n%s", err, out, stderr)
	}
	var res struct {
		SluiceID     int            `json:"sluiceId"`
		SluiceRecord map[string]any `json:"sluiceRecord"`
		SchemaName   string         `json:"schemaName"`
		NodeID       int            `json:"nodeId"`
		NodeLatestID int            `json:"nodeLatestId"`
		NodeHex      string         `json:"nodeHex"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.SluiceID != 1 || res.SchemaName != "com.example.Order" {
		t.Fatalf("node saw id %d schema %q", res.SluiceID, res.SchemaName)
	}
	want := map[string]any{"id": 7.0, "customer": "grace", "note": "hi", "qty": 2.0, "ratio": 0.5}
	for k, w := range want {
		if res.SluiceRecord[k] != w {
			t.Errorf("node decoded %s = %v, want %v (record %v)", k, res.SluiceRecord[k], w, res.SluiceRecord)
		}
	}
	if res.NodeID != 2 || res.NodeLatestID != 2 {
		t.Fatalf("node registered id %d, latest %d; want 2", res.NodeID, res.NodeLatestID)
	}
	nodeBytes, _ := hex.DecodeString(res.NodeHex)
	ns, nv, err := conv.ToConnect("node-orders", nodeBytes)
	if err != nil {
		t.Fatal(err)
	}
	st := nv.(*connect.Struct)
	if ns.Name != "com.example.NodeOrder" || st.Get("id") != int64(42) || st.Get("customer") != "ada" ||
		st.Get("note") != "from node" || st.Get("qty") != int32(3) || st.Get("paid") != true {
		t.Fatalf("decoded node record %v (schema %v)", st, ns)
	}
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestConfluentGoSchemaRegistryClient runs test/clients/srclient-go, a
// program on confluent-kafka-go's schemaregistry client (pure Go, built
// with CGO_ENABLED=0 in its own module), against sluice's registry.
func TestConfluentGoSchemaRegistryClient(t *testing.T) {
	url := startRegistry(t, testenv.StartBroker(t))
	dir := filepath.Join(testenv.RepoRoot(t), "test", "clients", "srclient-go")
	bin := filepath.Join(t.TempDir(), "srclient-go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building srclient-go (scripts/setup downloads its modules): %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, url).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("srclient-go: %v\n%s\n%s", err, out, stderr)
	}
	var res struct {
		ID1, ID2      int
		SchemaByID    string
		LatestVersion int
		LatestID      int
		Versions      []int
		Compatible    bool
		Incompatible  bool
		Subjects      []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.ID1 != 1 || res.ID2 != 2 || res.LatestVersion != 2 || res.LatestID != 2 || len(res.Versions) != 2 ||
		!res.Compatible || !res.Incompatible || len(res.Subjects) != 1 || res.Subjects[0] != "go-orders-value" ||
		!strings.Contains(res.SchemaByID, `"GoOrder"`) {
		t.Fatalf("confluent-kafka-go client saw %s", out)
	}
}
