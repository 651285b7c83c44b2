// Package mskapi tests sluice's MSK Connect API end to end with the real
// AWS CLI (Debian's awscli package, installed by scripts/setup) and the
// aws-sdk-go-v2 kafkaconnect client against `sluice up`: an S3 sink
// created with `aws kafkaconnect create-connector` runs on a worker pool,
// writes Parquet to a local directory, is rescaled with update-connector
// and deleted, every output checked field by field.
package mskapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kc "github.com/aws/aws-sdk-go-v2/service/kafkaconnect"
	kctypes "github.com/aws/aws-sdk-go-v2/service/kafkaconnect/types"
	"github.com/aws/smithy-go"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

const (
	keyID  = "AKIDSLUICETEST"
	secret = "sluice-test-secret"
)

type env struct {
	t        *testing.T
	endpoint string
	home     string
	aws      string
}

// cli runs `aws <args> --endpoint-url ... --output json` and decodes stdout.
func (e *env) cli(args ...string) (map[string]any, error) {
	e.t.Helper()
	cmd := exec.Command(e.aws, append(args, "--endpoint-url", e.endpoint, "--output", "json")...)
	cmd.Env = []string{"HOME=" + e.home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(e.home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(e.home, "credentials")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("aws %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	m := map[string]any{}
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			return nil, fmt.Errorf("aws %s: output %q: %v", strings.Join(args, " "), out, err)
		}
	}
	return m, nil
}

func (e *env) mustCLI(args ...string) map[string]any {
	e.t.Helper()
	m, err := e.cli(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// get walks a decoded JSON document by keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string { s, _ := get(v, path...).(string); return s }

func num(v any, path ...any) int { f, _ := get(v, path...).(float64); return int(f) }

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

func TestAWSCLIAndSDK(t *testing.T) {
	awsBin := "/usr/bin/aws"
	if _, err := os.Stat(awsBin); err != nil {
		t.Fatalf("Debian's awscli is not installed (%v): run scripts/setup", err)
	}
	bin := testenv.BuildSluice(t)
	home := t.TempDir()
	creds := filepath.Join(home, "server-credentials")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", keyID, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	rest := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dataDir := t.TempDir()
	up := testenv.StartUp(t, bin, []string{"up", "--data-dir", dataDir, "--kafka-listen", "127.0.0.1:0", "--rest-listen", rest,
		"--schema-registry-listen", "", "--offset-flush-interval", "2s", "--msk-credentials-file", creds},
		testenv.GracefulCleanup(syscall.SIGTERM, 60*time.Second),
		testenv.OnFailure(func(t testing.TB) {
			logs, _ := filepath.Glob(filepath.Join(dataDir, "pools", "*.logs", "*"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}))
	stdout := up.Stdout
	bootstrap := regexp.MustCompile(`Kafka bootstrap servers\s+(\S+)`).FindStringSubmatch(stdout.String())[1]
	e := &env{t: t, endpoint: "http://" + rest, home: home, aws: awsBin}

	// aws kafka: the bundled broker as an MSK cluster (the CLI prints the
	// kafka model's PascalCase member names; the wire uses camelCase).
	lc := e.mustCLI("kafka", "list-clusters-v2")
	clusterArn := str(lc, "ClusterInfoList", 0, "ClusterArn")
	if !regexp.MustCompile(`^arn:aws:kafka:us-east-1:000000000000:cluster/sluice/[0-9a-f-]{36}$`).MatchString(clusterArn) ||
		str(lc, "ClusterInfoList", 0, "ClusterName") != "sluice" || str(lc, "ClusterInfoList", 0, "State") != "ACTIVE" {
		t.Fatalf("list-clusters-v2: %v", lc)
	}
	dc := e.mustCLI("kafka", "describe-cluster-v2", "--cluster-arn", clusterArn)
	if str(dc, "ClusterInfo", "ClusterArn") != clusterArn || num(dc, "ClusterInfo", "Provisioned", "NumberOfBrokerNodes") != 1 {
		t.Fatalf("describe-cluster-v2: %v", dc)
	}
	if bb := e.mustCLI("kafka", "get-bootstrap-brokers", "--cluster-arn", clusterArn); str(bb, "BootstrapBrokerString") != bootstrap {
		t.Fatalf("get-bootstrap-brokers: %v, want %s", bb, bootstrap)
	}

	cp := e.mustCLI("kafkaconnect", "create-custom-plugin", "--name", "confluentinc-kafka-connect-s3", "--content-type", "ZIP",
		"--location", "s3Location={bucketArn=arn:aws:s3:::plugins,fileKey=confluentinc-kafka-connect-s3-10.5.0.zip}")
	pluginArn := str(cp, "customPluginArn")
	if str(cp, "customPluginState") != "ACTIVE" || num(cp, "revision") != 1 || !strings.Contains(pluginArn, ":custom-plugin/confluentinc-kafka-connect-s3/") {
		t.Fatalf("create-custom-plugin: %v", cp)
	}
	if d := e.mustCLI("kafkaconnect", "describe-custom-plugin", "--custom-plugin-arn", pluginArn); str(d, "latestRevision", "contentType") != "ZIP" ||
		str(d, "latestRevision", "location", "s3Location", "fileKey") != "confluentinc-kafka-connect-s3-10.5.0.zip" {
		t.Fatalf("describe-custom-plugin: %v", d)
	}
	wcProps := base64.StdEncoding.EncodeToString([]byte("key.converter=org.apache.kafka.connect.storage.StringConverter\noffset.flush.interval.ms=2500\n"))
	wc := e.mustCLI("kafkaconnect", "create-worker-configuration", "--name", "strings", "--properties-file-content", wcProps)
	wcArn := str(wc, "workerConfigurationArn")
	// (awscli 2.9's model has no workerConfigurationState in this output.)
	if !strings.Contains(wcArn, ":worker-configuration/strings/") || num(wc, "latestRevision", "revision") != 1 {
		t.Fatalf("create-worker-configuration: %v", wc)
	}

	lake := t.TempDir()
	config := map[string]string{
		"connector.class": "io.confluent.connect.s3.S3SinkConnector", "tasks.max": "4", "topics": "user-events",
		"sluice.storage": "local", "local.dir": lake, "topics.dir": "topics",
		"format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
		"flush.size":   "10", "rotate.schedule.interval.ms": "1000",
		"key.converter":                  "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable": "true",
	}
	var kv []string
	for k, v := range config {
		kv = append(kv, k+"="+v)
	}
	roleArn := "arn:aws:iam::000000000000:role/msk-connect-s3"
	cr := e.mustCLI("kafkaconnect", "create-connector", "--connector-name", "s3-sink",
		"--connector-configuration", strings.Join(kv, ","),
		"--capacity", "autoScaling={maxWorkerCount=2,mcuCount=1,minWorkerCount=1,scaleInPolicy={cpuUtilizationPercentage=20},scaleOutPolicy={cpuUtilizationPercentage=80}}",
		"--kafka-cluster", "apacheKafkaCluster={bootstrapServers="+clusterArn+",vpc={subnets=[subnet-1a],securityGroups=[sg-1]}}",
		"--kafka-cluster-client-authentication", "authenticationType=NONE",
		"--kafka-cluster-encryption-in-transit", "encryptionType=PLAINTEXT",
		"--kafka-connect-version", "3.7.x",
		"--plugins", "customPlugin={customPluginArn="+pluginArn+",revision=1}",
		"--service-execution-role-arn", roleArn,
		"--worker-configuration", "workerConfigurationArn="+wcArn+",revision=1")
	arn := str(cr, "connectorArn")
	if !regexp.MustCompile(`^arn:aws:kafkaconnect:us-east-1:000000000000:connector/s3-sink/[0-9a-f-]{36}$`).MatchString(arn) ||
		str(cr, "connectorName") != "s3-sink" || str(cr, "connectorState") != "CREATING" {
		t.Fatalf("create-connector: %v", cr)
	}
	if _, err := e.cli("kafkaconnect", "create-connector", "--connector-name", "s3-sink", "--connector-configuration", "connector.class=FileStreamSink",
		"--capacity", "provisionedCapacity={mcuCount=1,workerCount=1}", "--kafka-cluster", "apacheKafkaCluster={bootstrapServers=x,vpc={subnets=[s]}}",
		"--kafka-cluster-client-authentication", "authenticationType=NONE", "--kafka-cluster-encryption-in-transit", "encryptionType=PLAINTEXT",
		"--kafka-connect-version", "3.7.x", "--plugins", "customPlugin={customPluginArn="+pluginArn+",revision=1}",
		"--service-execution-role-arn", roleArn); err == nil || !strings.Contains(err.Error(), "(ConflictException)") {
		t.Fatalf("duplicate create-connector: %v", err)
	}

	var d map[string]any
	waitFor(t, "connector RUNNING", 120*time.Second, func() (bool, string) {
		var err error
		if d, err = e.cli("kafkaconnect", "describe-connector", "--connector-arn", arn); err != nil {
			return false, err.Error()
		}
		return str(d, "connectorState") == "RUNNING", str(d, "connectorState")
	})
	gotCfg, _ := json.Marshal(get(d, "connectorConfiguration"))
	wantCfg, _ := json.Marshal(config)
	if string(gotCfg) != string(wantCfg) {
		t.Errorf("describe-connector connectorConfiguration = %s, want %s", gotCfg, wantCfg)
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"connectorArn"}, arn}, {[]any{"connectorName"}, "s3-sink"}, {[]any{"currentVersion"}, "1"},
		{[]any{"capacity", "autoScaling", "minWorkerCount"}, 1.0}, {[]any{"capacity", "autoScaling", "maxWorkerCount"}, 2.0},
		{[]any{"capacity", "autoScaling", "mcuCount"}, 1.0}, {[]any{"capacity", "autoScaling", "scaleInPolicy", "cpuUtilizationPercentage"}, 20.0},
		{[]any{"capacity", "autoScaling", "scaleOutPolicy", "cpuUtilizationPercentage"}, 80.0},
		{[]any{"kafkaCluster", "apacheKafkaCluster", "bootstrapServers"}, bootstrap},
		{[]any{"kafkaCluster", "apacheKafkaCluster", "vpc", "subnets", 0}, "subnet-1a"},
		{[]any{"kafkaClusterClientAuthentication", "authenticationType"}, "NONE"},
		{[]any{"kafkaClusterEncryptionInTransit", "encryptionType"}, "PLAINTEXT"},
		{[]any{"kafkaConnectVersion"}, "3.7.x"}, {[]any{"plugins", 0, "customPlugin", "customPluginArn"}, pluginArn},
		{[]any{"plugins", 0, "customPlugin", "revision"}, 1.0}, {[]any{"serviceExecutionRoleArn"}, roleArn},
		{[]any{"workerConfiguration", "workerConfigurationArn"}, wcArn},
	} {
		if got := get(d, c.path...); got != c.want {
			t.Errorf("describe-connector %v = %v, want %v", c.path, got, c.want)
		}
	}
	if ct, err := time.Parse(time.RFC3339, str(d, "creationTime")); err != nil || time.Since(ct) > 10*time.Minute {
		t.Errorf("describe-connector creationTime %q: %v", str(d, "creationTime"), err)
	}

	// The connector runs: records produced to user-events land as Parquet.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 50
	var recs []*kgo.Record
	for i := range n {
		v := fmt.Sprintf(`{"schema":{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"event","type":"string"}]},"payload":{"id":%d,"event":"click-%d"}}`, i, i)
		recs = append(recs, &kgo.Record{Topic: "user-events", Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Parquet files with every record", 120*time.Second, func() (bool, string) {
		ids, err := readLake(filepath.Join(lake, "topics", "user-events"))
		if err != nil {
			return false, err.Error()
		}
		for i := range n {
			if !ids[int64(i)] {
				return false, fmt.Sprintf("%d of %d ids", len(ids), n)
			}
		}
		return true, ""
	})

	// list-connectors, with and without a matching prefix.
	lcs := e.mustCLI("kafkaconnect", "list-connectors", "--connector-name-prefix", "s3-")
	if len(get(lcs, "connectors").([]any)) != 1 || str(lcs, "connectors", 0, "connectorArn") != arn || str(lcs, "connectors", 0, "connectorState") != "RUNNING" ||
		str(lcs, "connectors", 0, "currentVersion") != "1" || num(lcs, "connectors", 0, "capacity", "autoScaling", "maxWorkerCount") != 2 ||
		get(lcs, "connectors", 0, "connectorConfiguration") != nil {
		t.Errorf("list-connectors: %v", lcs)
	}
	if l := e.mustCLI("kafkaconnect", "list-connectors", "--connector-name-prefix", "nope"); len(get(l, "connectors").([]any)) != 0 {
		t.Errorf("list-connectors --connector-name-prefix nope: %v", l)
	}

	// update-connector --capacity: to 2 provisioned workers; a stale
	// version is refused.
	u := e.mustCLI("kafkaconnect", "update-connector", "--connector-arn", arn, "--current-version", "1",
		"--capacity", "provisionedCapacity={mcuCount=1,workerCount=2}")
	// (awscli 2.9's model predates connectorOperationArn in this output;
	// the SDK below finds the operation.)
	if str(u, "connectorArn") != arn || str(u, "connectorState") != "UPDATING" {
		t.Fatalf("update-connector: %v", u)
	}
	if _, err := e.cli("kafkaconnect", "update-connector", "--connector-arn", arn, "--current-version", "1",
		"--capacity", "provisionedCapacity={mcuCount=1,workerCount=1}"); err == nil || !strings.Contains(err.Error(), "(ConflictException)") {
		t.Fatalf("stale update-connector: %v", err)
	}

	// The operation, through the SDK (Debian's awscli 2.9 predates
	// describe-connector-operation); the SDK request is SigV4-verified too.
	sdk := kc.New(kc.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	var op *kc.DescribeConnectorOperationOutput
	opArn := ""
	waitFor(t, "the update's operation UPDATE_COMPLETE", 120*time.Second, func() (bool, string) {
		lo, err := sdk.ListConnectorOperations(ctx, &kc.ListConnectorOperationsInput{ConnectorArn: aws.String(arn)})
		if err != nil {
			return false, err.Error()
		}
		op = nil
		for _, o := range lo.ConnectorOperations {
			if !strings.HasPrefix(*o.ConnectorOperationArn, strings.Replace(arn, ":connector/", ":connector-operation/", 1)+"/") {
				t.Fatalf("operation ARN %s is not under the connector's", *o.ConnectorOperationArn)
			}
			d, err := sdk.DescribeConnectorOperation(ctx, &kc.DescribeConnectorOperationInput{ConnectorOperationArn: o.ConnectorOperationArn})
			if err != nil {
				return false, err.Error()
			}
			// The first operation to a provisioned capacity is the user's
			// update (later supervisor events may target it too).
			if op == nil && d.TargetWorkerSetting != nil && d.TargetWorkerSetting.Capacity.ProvisionedCapacity != nil {
				op, opArn = d, *o.ConnectorOperationArn
				if o.ConnectorOperationState != d.ConnectorOperationState {
					t.Errorf("list says %s, describe %s", o.ConnectorOperationState, d.ConnectorOperationState)
				}
			}
		}
		if op == nil {
			return false, fmt.Sprintf("%d operations, none to provisioned capacity", len(lo.ConnectorOperations))
		}
		return op.ConnectorOperationState == kctypes.ConnectorOperationStateUpdateComplete, string(op.ConnectorOperationState)
	})
	if *op.ConnectorArn != arn || op.ConnectorOperationType != kctypes.ConnectorOperationTypeUpdateWorkerSetting ||
		op.OriginWorkerSetting.Capacity.AutoScaling == nil || op.OriginWorkerSetting.Capacity.AutoScaling.MaxWorkerCount != 2 ||
		op.TargetWorkerSetting.Capacity.ProvisionedCapacity == nil || op.TargetWorkerSetting.Capacity.ProvisionedCapacity.WorkerCount != 2 ||
		len(op.OperationSteps) == 0 || op.EndTime == nil || op.CreationTime == nil {
		t.Errorf("describe-connector-operation: %+v", op)
	}
	lo, err := sdk.ListConnectorOperations(ctx, &kc.ListConnectorOperationsInput{ConnectorArn: aws.String(arn)})
	found := false
	for _, o := range lo.ConnectorOperations {
		found = found || *o.ConnectorOperationArn == opArn
	}
	if err != nil || !found {
		t.Errorf("list-connector-operations: %+v, %v", lo, err)
	}
	bad := kc.New(kc.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, "wrong", "")})
	var ae smithy.APIError
	if _, err := bad.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arn)}); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
	waitFor(t, "2 provisioned workers", 120*time.Second, func() (bool, string) {
		d, err := sdk.DescribeConnector(ctx, &kc.DescribeConnectorInput{ConnectorArn: aws.String(arn)})
		if err != nil {
			return false, err.Error()
		}
		p := d.Capacity.ProvisionedCapacity
		return p != nil && p.WorkerCount == 2 && *d.CurrentVersion == "2" && d.ConnectorState == kctypes.ConnectorStateRunning,
			fmt.Sprintf("%+v %s %s", p, *d.CurrentVersion, d.ConnectorState)
	})
	var pool struct {
		Workers []struct {
			PID int `json:"pid"`
		} `json:"workers"`
	}
	waitFor(t, "the pool to run 2 workers", 120*time.Second, func() (bool, string) {
		resp, err := http.Get(e.endpoint + "/connectors/s3-sink/pool")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &pool)
		return len(pool.Workers) == 2, string(b)
	})
	// The worker configuration's properties reach every pool worker
	// process (sluice worker --set key=value).
	for _, w := range pool.Workers {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", w.PID))
		if err != nil {
			t.Fatalf("pool worker pid %d: %v", w.PID, err)
		}
		if args := strings.Split(string(cmdline), "\x00"); !slices.Contains(args, "offset.flush.interval.ms=2500") {
			t.Fatalf("pool worker pid %d runs without the worker configuration's properties: %q", w.PID, args)
		}
	}

	// UpdateConnector with a connectorConfiguration (through the SDK:
	// awscli 2.9 has no --connector-configuration on update-connector).
	newCfg := map[string]string{}
	for k, v := range config {
		newCfg[k] = v
	}
	newCfg["flush.size"] = "5"
	uc, err := sdk.UpdateConnector(ctx, &kc.UpdateConnectorInput{ConnectorArn: aws.String(arn), CurrentVersion: aws.String("2"), ConnectorConfiguration: newCfg})
	if err != nil || uc.ConnectorState != kctypes.ConnectorStateUpdating || uc.ConnectorOperationArn == nil {
		t.Fatalf("UpdateConnector configuration: %+v, %v", uc, err)
	}
	waitFor(t, "the configuration update UPDATE_COMPLETE", 120*time.Second, func() (bool, string) {
		op, err := sdk.DescribeConnectorOperation(ctx, &kc.DescribeConnectorOperationInput{ConnectorOperationArn: uc.ConnectorOperationArn})
		if err != nil {
			return false, err.Error()
		}
		if op.ConnectorOperationType != kctypes.ConnectorOperationTypeUpdateConnectorConfiguration ||
			op.OriginConnectorConfiguration["flush.size"] != "10" || op.TargetConnectorConfiguration["flush.size"] != "5" {
			t.Fatalf("configuration operation: %+v", op)
		}
		return op.ConnectorOperationState == kctypes.ConnectorOperationStateUpdateComplete, string(op.ConnectorOperationState)
	})
	if d := e.mustCLI("kafkaconnect", "describe-connector", "--connector-arn", arn); str(d, "currentVersion") != "3" ||
		str(d, "connectorConfiguration", "flush.size") != "5" || num(d, "capacity", "provisionedCapacity", "workerCount") != 2 {
		t.Fatalf("describe-connector after the configuration update: %v", d)
	}
	// The updated connector keeps writing: 50 more records arrive.
	recs = recs[:0]
	for i := n; i < 2*n; i++ {
		v := fmt.Sprintf(`{"schema":{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"event","type":"string"}]},"payload":{"id":%d,"event":"click-%d"}}`, i, i)
		recs = append(recs, &kgo.Record{Topic: "user-events", Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Parquet files with the records produced after the updates", 120*time.Second, func() (bool, string) {
		ids, err := readLake(filepath.Join(lake, "topics", "user-events"))
		if err != nil {
			return false, err.Error()
		}
		for i := range 2 * n {
			if !ids[int64(i)] {
				return false, fmt.Sprintf("%d of %d ids", len(ids), 2*n)
			}
		}
		return true, ""
	})

	// delete-connector: DELETING, then NotFoundException.
	del := e.mustCLI("kafkaconnect", "delete-connector", "--connector-arn", arn, "--current-version", "3")
	if str(del, "connectorArn") != arn || str(del, "connectorState") != "DELETING" {
		t.Fatalf("delete-connector: %v", del)
	}
	waitFor(t, "connector gone", 120*time.Second, func() (bool, string) {
		_, err := e.cli("kafkaconnect", "describe-connector", "--connector-arn", arn)
		return err != nil && strings.Contains(err.Error(), "(NotFoundException)"), fmt.Sprint(err)
	})
	if l := e.mustCLI("kafkaconnect", "list-connectors"); len(get(l, "connectors").([]any)) != 0 {
		t.Errorf("list-connectors after delete: %v", l)
	}
}

// readLake returns the ids in every Parquet file under dir.
func readLake(dir string) (map[int64]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "partition=*", "*.parquet"))
	if err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		st, _ := fh.Stat()
		pf, err := parquet.OpenFile(fh, st.Size())
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		r := parquet.NewReader(pf)
		for {
			m := map[string]any{}
			if err := r.Read(&m); err != nil {
				if !errors.Is(err, io.EOF) {
					fh.Close()
					return nil, fmt.Errorf("%s: %w", f, err)
				}
				break
			}
			id, ok := m["id"].(int64)
			if !ok || m["event"] != fmt.Sprintf("click-%d", id) {
				fh.Close()
				return nil, fmt.Errorf("%s: unexpected row %v", f, m)
			}
			ids[id] = true
		}
		r.Close()
		fh.Close()
	}
	return ids, nil
}
