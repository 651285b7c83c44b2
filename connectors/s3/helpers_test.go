package s3

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/runtime/connect"
)

// fakeCtx is a SinkTaskContext recording Seek calls.
type fakeCtx struct {
	mu     sync.Mutex
	seeks  map[connect.TopicPartition]int64
	assign []connect.TopicPartition
}

func (c *fakeCtx) Assignment() []connect.TopicPartition { return c.assign }
func (c *fakeCtx) Seek(o map[connect.TopicPartition]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeks == nil {
		c.seeks = map[connect.TopicPartition]int64{}
	}
	maps.Copy(c.seeks, o)
}
func (c *fakeCtx) RequestCommit()                   {}
func (c *fakeCtx) Pause(...connect.TopicPartition)  {}
func (c *fakeCtx) Resume(...connect.TopicPartition) {}
func (c *fakeCtx) Logger() *slog.Logger             { return slog.New(slog.DiscardHandler) }
func (c *fakeCtx) ConnectorName() string            { return "s3-test" }
func (c *fakeCtx) TaskID() int                      { return 0 }

// objectStore reads back what a task wrote, from S3 or a local dir.
type objectStore interface {
	list(t *testing.T) []string
	read(t *testing.T, key string) []byte
}

type s3Objects struct {
	c      *awss3.Client
	bucket string
}

func (o s3Objects) list(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := awss3.NewListObjectsV2Paginator(o.c, &awss3.ListObjectsV2Input{Bucket: &o.bucket})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, obj := range out.Contents {
			keys = append(keys, aws.ToString(obj.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

func (o s3Objects) read(t *testing.T, key string) []byte {
	t.Helper()
	out, err := o.c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &o.bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type localObjects struct{ root string }

func (o localObjects) list(t *testing.T) []string {
	t.Helper()
	var keys []string
	filepath.WalkDir(o.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(o.root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	return keys
}

func (o localObjects) read(t *testing.T, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(o.root, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dataKeys drops sluice's commit markers from a key list.
func dataKeys(keys []string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return strings.Contains(k, "/_sluice/") || strings.Contains(k, ".sluice-tmp") })
}

// fakeS3 starts an in-process gofakes3 server with one bucket and returns
// the connector config pointing at it.
func fakeS3(t *testing.T) (map[string]string, s3Objects) {
	t.Helper()
	faker := gofakes3.New(s3mem.New())
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{
		KeyBucket: "lake", KeyRegion: "us-east-1", KeyStoreURL: srv.URL, KeyPathStyle: "true",
		KeyAccessKeyID: "k", KeySecretAccessKey: "s",
	}
	return cfg, s3Objects{c: c, bucket: "lake"}
}

func localStore(t *testing.T) (map[string]string, localObjects) {
	dir := t.TempDir()
	return map[string]string{KeyStorage: "local", KeyLocalDir: dir}, localObjects{root: dir}
}

func withCfg(base map[string]string, kv ...string) map[string]string {
	cfg := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

func openTask(t *testing.T, cfg map[string]string, tps []connect.TopicPartition, opts ...Option) (*task, *fakeCtx) {
	t.Helper()
	tk := NewTask(opts...).(*task)
	fc := &fakeCtx{assign: tps}
	if err := tk.Open(context.Background(), cfg, fc); err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := tk.Assign(context.Background(), tps); err != nil {
		t.Fatalf("assign: %v", err)
	}
	return tk, fc
}

func mustPut(t *testing.T, tk *task, recs ...*connect.Record) {
	t.Helper()
	if err := tk.Put(context.Background(), recs); err != nil {
		t.Fatalf("put: %v", err)
	}
	settleAll(t, tk)
}

// settleAll waits for the task's background uploads, so tests can read
// what Put committed.
func settleAll(t *testing.T, tk *task) {
	t.Helper()
	for _, w := range tk.writers {
		if err := tk.settle(w); err != nil {
			t.Fatalf("background commit: %v", err)
		}
	}
}

// Flat ("unwrapped") row schema covering every primitive and logical type.
var flatSchema = connect.NewStruct().Name("shop.public.items.Value").
	Field("id", connect.Int32Schema).
	Field("tiny", connect.Int8Schema).
	Field("small", connect.OptionalInt16Schema).
	Field("big", connect.Int64Schema).
	Field("f32", connect.Float32Schema).
	Field("f64", connect.OptionalFloat64Schema).
	Field("ok", connect.BooleanSchema).
	Field("name", connect.OptionalStringSchema).
	Field("raw", connect.OptionalBytesSchema).
	Field("price", connect.DecimalSchema(2).Param(decimalPrecParam, "10").Build()).
	Field("day", connect.DateSchema().Optional().Build()).
	Field("at", connect.TimeSchema().Build()).
	Field("ts", connect.TimestampSchema().Build()).
	Field("mts", connect.NewSchema(connect.Int64).Name(dbzMicroTimestamp).Optional().Build()).
	Build()

var baseTime = time.Date(2024, 3, 9, 22, 30, 15, 0, time.UTC)

func flatValue(id int) *connect.Struct {
	v := connect.NewStructValue(flatSchema)
	v.Set("id", int32(id)).Set("tiny", int8(id%100)).Set("big", int64(id)*1_000_000_007).
		Set("f32", float32(id)/2).Set("ok", id%2 == 0).
		Set("price", connect.Decimal{Unscaled: big.NewInt(int64(id)*100 + 99), Scale: 2}).
		Set("at", connect.TimeFromMillis(int32(id*1000))).
		Set("ts", baseTime.Add(time.Duration(id)*time.Second))
	if id%3 != 0 {
		v.Set("small", int16(-id)).Set("f64", float64(id)*1.5).Set("name", "item-"+itoa(id)).
			Set("raw", []byte{byte(id), 0xff}).Set("day", connect.DateFromDays(int32(19000+id))).
			Set("mts", baseTime.UnixMicro()+int64(id))
	}
	return v
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func flatRecord(topic string, part int32, off int64, id int) *connect.Record {
	return &connect.Record{Topic: topic, Partition: part, Offset: off, ValueSchema: flatSchema, Value: flatValue(id),
		Timestamp: baseTime.Add(time.Duration(off) * time.Second), TimestampType: connect.CreateTime}
}

// parquetFile opens a Parquet object.
func parquetFile(t *testing.T, b []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	return f
}

// readRows reads a Parquet object into T.
func readRows[T any](t *testing.T, b []byte) []T {
	t.Helper()
	f := parquetFile(t, b)
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	out := make([]T, f.NumRows())
	n, err := r.Read(out)
	if err != nil && err != io.EOF {
		t.Fatalf("read rows: %v", err)
	}
	return out[:n]
}

func timeSec(n int) time.Duration { return time.Duration(n) * time.Second }

func bigInt(n int64) *big.Int { return big.NewInt(n) }
