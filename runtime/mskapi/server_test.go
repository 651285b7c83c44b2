package mskapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kc "github.com/aws/aws-sdk-go-v2/service/kafkaconnect"
	kctypes "github.com/aws/aws-sdk-go-v2/service/kafkaconnect/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice/runtime/pool"
)

// fakeBackend keeps connectors in memory and records operations the way
// a pool does.
type fakeBackend struct {
	mu    sync.Mutex
	conns map[string]*fakeConn
}

type fakeConn struct {
	cfg map[string]string
	wp  map[string]string // worker properties
	c   pool.Capacity
	ops *pool.OperationLog
	del bool
}

func (b *fakeBackend) CreateConnector(_ context.Context, name string, cfg map[string]string, c pool.Capacity, workerProps map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cfg["connector.class"] == "unknown" {
		return errors.New("connector.class unknown is not a sluice connector")
	}
	b.conns[name] = &fakeConn{cfg: cfg, wp: workerProps, c: c, ops: pool.NewOperationLog(name)}
	return nil
}

func (b *fakeBackend) Connector(name string) (ConnectorStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fc, ok := b.conns[name]
	if !ok || fc.del {
		return ConnectorStatus{}, false
	}
	return ConnectorStatus{State: pool.StateRunning, Capacity: fc.c, Config: fc.cfg, WorkerCount: 1}, true
}

func (b *fakeBackend) UpdateCapacity(_ context.Context, name string, c pool.Capacity) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fc := b.conns[name]
	id := fc.ops.Begin(pool.OpUpdateWorkerSetting, "user", "test", &pool.WorkerSetting{Capacity: fc.c}, &pool.WorkerSetting{Capacity: c})
	fc.ops.End(id, nil)
	fc.c = c
	return id, nil
}

func (b *fakeBackend) UpdateConfig(_ context.Context, name string, cfg map[string]string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fc := b.conns[name]
	id := fc.ops.Begin(pool.OpUpdateConnectorConfiguration, "user", "test", nil, nil)
	fc.ops.End(id, nil)
	fc.cfg = cfg
	return id, nil
}

func (b *fakeBackend) DeleteConnector(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns[name].del = true
	return nil
}

func (b *fakeBackend) Operations(name string) []pool.Operation {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[name].ops.List()
}

func newClient(t *testing.T, url, key, secret string) *kc.Client {
	return kc.New(kc.Options{
		Region:           "eu-west-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprintf("not an API error: %v", err)
}

func createReq(name string, plugin string) *kc.CreateConnectorInput {
	return &kc.CreateConnectorInput{
		ConnectorName:          aws.String(name),
		Capacity:               &kctypes.Capacity{ProvisionedCapacity: &kctypes.ProvisionedCapacity{McuCount: 1, WorkerCount: 1}},
		ConnectorConfiguration: map[string]string{"connector.class": "FileStreamSink", "topics": "t", "tasks.max": "1"},
		KafkaCluster: &kctypes.KafkaCluster{ApacheKafkaCluster: &kctypes.ApacheKafkaCluster{
			BootstrapServers: aws.String("127.0.0.1:9092"),
			Vpc:              &kctypes.Vpc{Subnets: []string{"subnet-1"}, SecurityGroups: []string{"sg-1"}}}},
		KafkaClusterClientAuthentication: &kctypes.KafkaClusterClientAuthentication{AuthenticationType: kctypes.KafkaClusterClientAuthenticationTypeNone},
		KafkaClusterEncryptionInTransit:  &kctypes.KafkaClusterEncryptionInTransit{EncryptionType: kctypes.KafkaClusterEncryptionInTransitTypePlaintext},
		KafkaConnectVersion:              aws.String("3.7.x"),
		Plugins:                          []kctypes.Plugin{{CustomPlugin: &kctypes.CustomPlugin{CustomPluginArn: aws.String(plugin), Revision: 1}}},
		ServiceExecutionRoleArn:          aws.String("arn:aws:iam::123456789012:role/connect"),
	}
}

// TestSDK drives every operation with the real aws-sdk-go-v2 kafkaconnect
// client over SigV4-verified HTTP.
func TestSDK(t *testing.T) {
	ctx := context.Background()
	be := &fakeBackend{conns: map[string]*fakeConn{}}
	state := filepath.Join(t.TempDir(), "state.json")
	s, err := New(be, WithRegion("eu-west-1"), WithAccount("123456789012"), WithStateFile(state),
		WithCredentials(map[string]string{"AKIDTEST": "secret"}), WithCluster(Cluster{Name: "sluice", Bootstrap: "127.0.0.1:9092", Brokers: 1}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cl := newClient(t, srv.URL, "AKIDTEST", "secret")

	// Wrong secret, unknown key: rejected by the signature check.
	if _, err := newClient(t, srv.URL, "AKIDTEST", "wrong").ListConnectors(ctx, &kc.ListConnectorsInput{}); apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := newClient(t, srv.URL, "OTHER", "secret").ListConnectors(ctx, &kc.ListConnectorsInput{}); apiCode(err) != "UnauthorizedException" {
		t.Fatalf("unknown key: %v", err)
	}

	cp, err := cl.CreateCustomPlugin(ctx, &kc.CreateCustomPluginInput{Name: aws.String("files"), ContentType: kctypes.CustomPluginContentTypeZip,
		Location: &kctypes.CustomPluginLocation{S3Location: &kctypes.S3Location{BucketArn: aws.String("arn:aws:s3:::b"), FileKey: aws.String("files.zip")}},
		Tags:     map[string]string{"team": "data"}})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^arn:aws:kafkaconnect:eu-west-1:123456789012:custom-plugin/files/[0-9a-f-]{36}$`).MatchString(*cp.CustomPluginArn) ||
		cp.CustomPluginState != kctypes.CustomPluginStateActive || cp.Revision != 1 || *cp.Name != "files" {
		t.Fatalf("CreateCustomPlugin: %+v", cp)
	}
	if _, err := cl.CreateCustomPlugin(ctx, &kc.CreateCustomPluginInput{Name: aws.String("files"), ContentType: kctypes.CustomPluginContentTypeZip,
		Location: &kctypes.CustomPluginLocation{S3Location: &kctypes.S3Location{BucketArn: aws.String("arn:aws:s3:::b"), FileKey: aws.String("f")}}}); apiCode(err) != "ConflictException" {
		t.Fatalf("duplicate plugin: %v", err)
	}
	dp, err := cl.DescribeCustomPlugin(ctx, &kc.DescribeCustomPluginInput{CustomPluginArn: cp.CustomPluginArn})
	if err != nil || *dp.Name != "files" || dp.LatestRevision.ContentType != kctypes.CustomPluginContentTypeZip || *dp.LatestRevision.Location.S3Location.FileKey != "files.zip" || dp.CreationTime == nil {
		t.Fatalf("DescribeCustomPlugin: %+v, %v", dp, err)
	}
	lp, err := cl.ListCustomPlugins(ctx, &kc.ListCustomPluginsInput{NamePrefix: aws.String("fi")})
	if err != nil || len(lp.CustomPlugins) != 1 || *lp.CustomPlugins[0].CustomPluginArn != *cp.CustomPluginArn {
		t.Fatalf("ListCustomPlugins: %+v, %v", lp, err)
	}

	props := base64.StdEncoding.EncodeToString([]byte("key.converter=org.apache.kafka.connect.storage.StringConverter\noffset.flush.interval.ms=2500\n"))
	wc, err := cl.CreateWorkerConfiguration(ctx, &kc.CreateWorkerConfigurationInput{Name: aws.String("wc"), PropertiesFileContent: aws.String(props)})
	if err != nil || wc.WorkerConfigurationState != kctypes.WorkerConfigurationStateActive || wc.LatestRevision.Revision != 1 {
		t.Fatalf("CreateWorkerConfiguration: %+v, %v", wc, err)
	}
	bad := base64.StdEncoding.EncodeToString([]byte("group.id=mine\n"))
	if _, err := cl.CreateWorkerConfiguration(ctx, &kc.CreateWorkerConfigurationInput{Name: aws.String("bad"), PropertiesFileContent: aws.String(bad)}); apiCode(err) != "BadRequestException" || !strings.Contains(err.Error(), "group.id") {
		t.Fatalf("group.id in worker configuration: %v", err)
	}
	dwc, err := cl.DescribeWorkerConfiguration(ctx, &kc.DescribeWorkerConfigurationInput{WorkerConfigurationArn: wc.WorkerConfigurationArn})
	if err != nil || *dwc.LatestRevision.PropertiesFileContent != props {
		t.Fatalf("DescribeWorkerConfiguration: %+v, %v", dwc, err)
	}
	if lw, err := cl.ListWorkerConfigurations(ctx, &kc.ListWorkerConfigurationsInput{}); err != nil || len(lw.WorkerConfigurations) != 1 {
		t.Fatalf("ListWorkerConfigurations: %+v, %v", lw, err)
	}

	// Create three connectors; list them a page at a time.
	var arns []string
	for _, n := range []string{"sink-a", "sink-b", "other"} {
		in := createReq(n, *cp.CustomPluginArn)
		in.WorkerConfiguration = &kctypes.WorkerConfiguration{WorkerConfigurationArn: wc.WorkerConfigurationArn, Revision: 1}
		out, err := cl.CreateConnector(ctx, in)
		if err != nil {
			t.Fatalf("CreateConnector %s: %v", n, err)
		}
		if out.ConnectorState != kctypes.ConnectorStateCreating || *out.ConnectorName != n ||
			!regexp.MustCompile(`^arn:aws:kafkaconnect:eu-west-1:123456789012:connector/`+n+`/[0-9a-f-]{36}$`).MatchString(*out.ConnectorArn) {
			t.Fatalf("CreateConnector: %+v", out)
		}
		arns = append(arns, *out.ConnectorArn)
		be.mu.Lock()
		wp := be.conns[n].wp
		be.mu.Unlock()
		if wp["offset.flush.interval.ms"] != "2500" || wp["key.converter"] != "org.apache.kafka.connect.storage.StringConverter" {
			t.Fatalf("CreateConnector %s: worker properties reaching the pool = %v", n, wp)
		}
	}
	for _, tc := range []struct {
		name string
		mut  func(*kc.CreateConnectorInput)
		code string
		msg  string
	}{
		{"duplicate", func(*kc.CreateConnectorInput) {}, "ConflictException", "already exists"},
		{"no plugin", func(in *kc.CreateConnectorInput) {
			in.ConnectorName = aws.String("x")
			in.Plugins[0].CustomPlugin.CustomPluginArn = aws.String("arn:nope")
		}, "NotFoundException", "custom plugin"},
		{"bad mcu", func(in *kc.CreateConnectorInput) {
			in.ConnectorName = aws.String("x")
			in.Capacity.ProvisionedCapacity.McuCount = 3
		}, "BadRequestException", "mcuCount"},
		{"both capacities", func(in *kc.CreateConnectorInput) {
			in.ConnectorName = aws.String("x")
			in.Capacity.AutoScaling = &kctypes.AutoScaling{MinWorkerCount: 1, MaxWorkerCount: 2, McuCount: 1}
		}, "BadRequestException", "only one"},
		{"backend refuses", func(in *kc.CreateConnectorInput) {
			in.ConnectorName = aws.String("x")
			in.ConnectorConfiguration["connector.class"] = "unknown"
		}, "BadRequestException", "not a sluice connector"},
		{"unknown cluster arn", func(in *kc.CreateConnectorInput) {
			in.ConnectorName = aws.String("x")
			in.KafkaCluster.ApacheKafkaCluster.BootstrapServers = aws.String("arn:aws:kafka:eu-west-1:1:cluster/x/y")
		}, "NotFoundException", "cluster"},
	} {
		in := createReq("sink-a", *cp.CustomPluginArn)
		tc.mut(in)
		if _, err := cl.CreateConnector(ctx, in); apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("CreateConnector %s: %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
	var seen []string
	var token *string
	for range 3 {
		out, err := cl.ListConnectors(ctx, &kc.ListConnectorsInput{MaxResults: aws.Int32(1), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out.Connectors {
			seen = append(seen, *c.ConnectorName)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if fmt.Sprint(seen) != "[other sink-a sink-b]" || token != nil {
		t.Fatalf("paged ListConnectors: %v, last token %v", seen, token)
	}
	if out, err := cl.ListConnectors(ctx, &kc.ListConnectorsInput{ConnectorNamePrefix: aws.String("sink-")}); err != nil || len(out.Connectors) != 2 {
		t.Fatalf("ListConnectors prefix: %+v, %v", out, err)
	}
	if _, err := cl.ListConnectors(ctx, &kc.ListConnectorsInput{MaxResults: aws.Int32(101)}); apiCode(err) != "BadRequestException" {
		t.Fatalf("maxResults 101: %v", err)
	}

	d, err := cl.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[0])})
	if err != nil {
		t.Fatal(err)
	}
	if *d.ConnectorName != "sink-a" || d.ConnectorState != kctypes.ConnectorStateRunning || *d.CurrentVersion != "1" ||
		d.Capacity.ProvisionedCapacity.WorkerCount != 1 || d.ConnectorConfiguration["topics"] != "t" ||
		*d.KafkaCluster.ApacheKafkaCluster.BootstrapServers != "127.0.0.1:9092" || d.KafkaCluster.ApacheKafkaCluster.Vpc.Subnets[0] != "subnet-1" ||
		*d.KafkaConnectVersion != "3.7.x" || *d.Plugins[0].CustomPlugin.CustomPluginArn != *cp.CustomPluginArn ||
		*d.WorkerConfiguration.WorkerConfigurationArn != *wc.WorkerConfigurationArn || d.CreationTime == nil {
		t.Fatalf("DescribeConnector: %+v", d)
	}
	// The worker configuration's converter reached the connector, and
	// describe shows the user's configuration only.
	be.mu.Lock()
	kconv := be.conns["sink-a"].cfg["key.converter"]
	be.mu.Unlock()
	if kconv != "org.apache.kafka.connect.storage.StringConverter" {
		t.Fatalf("worker configuration not applied: key.converter %q", kconv)
	}
	if _, ok := d.ConnectorConfiguration["key.converter"]; ok || len(d.ConnectorConfiguration) != 3 {
		t.Fatalf("describe shows the worker configuration's keys: %v", d.ConnectorConfiguration)
	}

	// UpdateConnector: capacity XOR configuration, currentVersion checked.
	upd := &kctypes.CapacityUpdate{ProvisionedCapacity: &kctypes.ProvisionedCapacityUpdate{McuCount: 1, WorkerCount: 2}}
	if _, err := cl.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("1"), Capacity: upd,
		ConnectorConfiguration: map[string]string{"connector.class": "FileStreamSink"}}); apiCode(err) != "BadRequestException" {
		t.Fatalf("update with both: %v", err)
	}
	u, err := cl.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("1"), Capacity: upd})
	if err != nil || u.ConnectorState != kctypes.ConnectorStateUpdating || !strings.HasPrefix(*u.ConnectorOperationArn, "arn:aws:kafkaconnect:eu-west-1:123456789012:connector-operation/sink-a/") {
		t.Fatalf("UpdateConnector capacity: %+v, %v", u, err)
	}
	if _, err := cl.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("1"), Capacity: upd}); apiCode(err) != "ConflictException" {
		t.Fatalf("stale currentVersion: %v", err)
	}
	if _, err := cl.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("2"),
		ConnectorConfiguration: map[string]string{"connector.class": "FileStreamSource"}}); apiCode(err) != "BadRequestException" || !strings.Contains(err.Error(), "connector.class") {
		t.Fatalf("class change: %v", err)
	}
	u2, err := cl.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("2"),
		ConnectorConfiguration: map[string]string{"connector.class": "FileStreamSink", "topics": "t2", "tasks.max": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	op, err := cl.DescribeConnectorOperation(ctx, &kc.DescribeConnectorOperationInput{ConnectorOperationArn: u.ConnectorOperationArn})
	if err != nil || *op.ConnectorArn != arns[0] || op.ConnectorOperationType != kctypes.ConnectorOperationTypeUpdateWorkerSetting ||
		op.ConnectorOperationState != kctypes.ConnectorOperationStateUpdateComplete || op.OriginWorkerSetting.Capacity.ProvisionedCapacity.WorkerCount != 1 ||
		op.TargetWorkerSetting.Capacity.ProvisionedCapacity.WorkerCount != 2 || len(op.OperationSteps) != 3 || op.EndTime == nil {
		t.Fatalf("DescribeConnectorOperation: %+v, %v", op, err)
	}
	ops, err := cl.ListConnectorOperations(ctx, &kc.ListConnectorOperationsInput{ConnectorArn: aws.String(arns[0])})
	if err != nil || len(ops.ConnectorOperations) != 2 || *ops.ConnectorOperations[1].ConnectorOperationArn != *u2.ConnectorOperationArn ||
		ops.ConnectorOperations[1].ConnectorOperationType != kctypes.ConnectorOperationTypeUpdateConnectorConfiguration {
		t.Fatalf("ListConnectorOperations: %+v, %v", ops, err)
	}
	if d, _ := cl.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[0])}); d.ConnectorConfiguration["topics"] != "t2" || *d.CurrentVersion != "3" {
		t.Fatalf("after config update: %+v", d)
	}

	// Tags.
	if _, err := cl.TagResource(ctx, &kc.TagResourceInput{ResourceArn: aws.String(arns[0]), Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UntagResource(ctx, &kc.UntagResourceInput{ResourceArn: aws.String(arns[0]), TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if tg, err := cl.ListTagsForResource(ctx, &kc.ListTagsForResourceInput{ResourceArn: aws.String(arns[0])}); err != nil || fmt.Sprint(tg.Tags) != "map[b:2]" {
		t.Fatalf("ListTagsForResource: %+v, %v", tg, err)
	}
	if tg, err := cl.ListTagsForResource(ctx, &kc.ListTagsForResourceInput{ResourceArn: cp.CustomPluginArn}); err != nil || tg.Tags["team"] != "data" {
		t.Fatalf("plugin tags: %+v, %v", tg, err)
	}
	if _, err := cl.ListTagsForResource(ctx, &kc.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:kafkaconnect:eu-west-1:123456789012:connector/x/y")}); apiCode(err) != "NotFoundException" {
		t.Fatalf("tags of unknown: %v", err)
	}

	// State survives a restart of the API.
	s2, err := New(be, WithRegion("eu-west-1"), WithAccount("123456789012"), WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(s2)
	defer srv2.Close()
	cl2 := newClient(t, srv2.URL, "any", "thing") // no credentials configured: accepted
	if d, err := cl2.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[0])}); err != nil || *d.CurrentVersion != "3" {
		t.Fatalf("after restart: %+v, %v", d, err)
	}

	// Delete: a stale version is refused; then DELETING, then gone.
	if _, err := cl.DeleteConnector(ctx, &kc.DeleteConnectorInput{ConnectorArn: aws.String(arns[0]), CurrentVersion: aws.String("1")}); apiCode(err) != "ConflictException" {
		t.Fatalf("delete stale: %v", err)
	}
	if _, err := cl.DeleteCustomPlugin(ctx, &kc.DeleteCustomPluginInput{CustomPluginArn: cp.CustomPluginArn}); apiCode(err) != "ConflictException" {
		t.Fatalf("delete plugin in use: %v", err)
	}
	del, err := cl.DeleteConnector(ctx, &kc.DeleteConnectorInput{ConnectorArn: aws.String(arns[0])})
	if err != nil || del.ConnectorState != kctypes.ConnectorStateDeleting || *del.ConnectorArn != arns[0] {
		t.Fatalf("DeleteConnector: %+v, %v", del, err)
	}
	if _, err := cl.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[0])}); apiCode(err) != "NotFoundException" {
		t.Fatalf("describe after delete: %v", err)
	}
	// A connector whose pool vanished behind the API's back is FAILED,
	// and deleting it still works.
	be.mu.Lock()
	delete(be.conns, "sink-b")
	be.mu.Unlock()
	if d, err := cl.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[1])}); err != nil ||
		d.ConnectorState != kctypes.ConnectorStateFailed || *d.StateDescription.Code != "NotRunning" {
		t.Fatalf("describe of a vanished pool: %+v, %v", d, err)
	}
	if del, err := cl.DeleteConnector(ctx, &kc.DeleteConnectorInput{ConnectorArn: aws.String(arns[1])}); err != nil || del.ConnectorState != kctypes.ConnectorStateDeleting {
		t.Fatalf("delete of a vanished pool: %+v, %v", del, err)
	}
	if _, err := cl.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arns[1])}); apiCode(err) != "NotFoundException" {
		t.Fatalf("describe after deleting a vanished pool: %v", err)
	}
	b, _ := os.ReadFile(state)
	if strings.Contains(string(b), arns[0]) {
		t.Fatalf("deleted connector still in the state file")
	}
}

// TestClusterAndErrors checks the aws kafka operations and the error
// shape (x-amzn-ErrorType header, {"message"} body) over plain HTTP.
func TestClusterAndErrors(t *testing.T) {
	s, err := New(&fakeBackend{conns: map[string]*fakeConn{}}, WithCluster(Cluster{Name: "sluice", Bootstrap: "127.0.0.1:1234", Brokers: 1}))
	if err != nil {
		t.Fatal(err)
	}
	arn := s.ClusterArn()
	if !regexp.MustCompile(`^arn:aws:kafka:us-east-1:000000000000:cluster/sluice/[0-9a-f-]{36}$`).MatchString(arn) {
		t.Fatalf("cluster ARN %s", arn)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		errType      string
		body         string
	}{
		{"GET", "/api/v2/clusters", 200, "", `"clusterArn":"` + arn + `"`},
		{"GET", "/api/v2/clusters/" + url.PathEscape(arn), 200, "", `"numberOfBrokerNodes":1`},
		{"GET", "/v1/clusters/" + url.PathEscape(arn) + "/bootstrap-brokers", 200, "", `{"bootstrapBrokerString":"127.0.0.1:1234"}`},
		{"GET", "/v1/clusters/" + url.PathEscape("arn:aws:kafka:us-east-1:000000000000:cluster/x/y") + "/bootstrap-brokers", 404, "NotFoundException", `"message":"cluster`},
		{"GET", "/v1/connectors/" + url.PathEscape("arn:aws:kafkaconnect:us-east-1:000000000000:connector/x/y"), 404, "NotFoundException", `"message":"connector`},
		{"POST", "/v1/connectors", 400, "BadRequestException", `"message":"connectorName must be 1 to 128 characters"`},
		{"PUT", "/v1/connectors/" + url.PathEscape("arn:aws:kafkaconnect:us-east-1:000000000000:connector/x/y"), 400, "BadRequestException", `currentVersion is required`},
		{"GET", "/v1/connectors?maxResults=0", 400, "BadRequestException", `maxResults`},
		{"GET", "/v1/connectors?nextToken=%25%25", 400, "BadRequestException", `nextToken`},
		{"GET", "/v1/nothing", 404, "NotFoundException", `no MSK Connect operation`},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}")))
		if rec.Code != tc.status || rec.Header().Get("x-amzn-ErrorType") != tc.errType || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %q %s, want %d %q containing %s", tc.method, tc.path, rec.Code, rec.Header().Get("x-amzn-ErrorType"), rec.Body.String(), tc.status, tc.errType, tc.body)
		}
	}
}

// TestOperationArnsAreDistinct checks that every pool operation id maps to
// its own ARN (ids from pool.OperationLog), so DescribeConnectorOperation
// finds the operation UpdateConnector returned.
func TestOperationArnsAreDistinct(t *testing.T) {
	s := &Server{}
	c := &connector{Name: "s3-sink", Arn: "arn:aws:kafkaconnect:us-east-1:000000000000:connector/s3-sink/0b6e1b84-0a52-4b44-8f2c-4d2b0e0f3c11"}
	log := pool.NewOperationLog(c.Name)
	seen := map[string]string{}
	for i := 0; i < 3; i++ {
		id := log.Begin(pool.OperationType("UPDATE_WORKER_SETTING"), "user", "test", nil, nil)
		arn := s.opArn(c, id)
		if other, dup := seen[arn]; dup {
			t.Fatalf("operations %s and %s share the ARN %s", other, id, arn)
		}
		if !strings.HasPrefix(arn, "arn:aws:kafkaconnect:us-east-1:000000000000:connector-operation/s3-sink/0b6e1b84-0a52-4b44-8f2c-4d2b0e0f3c11/operation-") {
			t.Fatalf("operation %s: ARN %s", id, arn)
		}
		seen[arn] = id
	}
}
