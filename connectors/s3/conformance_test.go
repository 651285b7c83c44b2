package s3

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/connect/conformance"
)

// TestSinkConformance runs the sink conformance suite against the S3 sink
// with local storage and with an in-process S3 (gofakes3 behind a gate
// that can hold writes, for the stop-while-blocked subtest). Files hold
// seven records or whatever arrived within the 300 ms rotation schedule,
// so flushes see both full and partial files.
func TestSinkConformance(t *testing.T) {
	base := map[string]string{
		KeyFormatClass: JSONFormatClass, KeyFlushSize: "7", KeyRotateSchedule: "300",
		"value.converter": "json", "value.converter.schemas.enable": "false",
	}
	t.Run("local", func(t *testing.T) {
		var mu sync.Mutex
		stores := map[string]objectStore{} // local.dir -> store
		conformance.RunSink(t, conformance.Sink{
			Plugins: []connect.Plugin{Plugin()},
			Class:   Class,
			Config: func(t *testing.T, topic string) map[string]string {
				cfg, store := localStore(t)
				mu.Lock()
				stores[cfg[KeyLocalDir]] = store
				mu.Unlock()
				return withCfg(merge(base, cfg), "connector.class", Class, "topics", topic)
			},
			Delivered: func(t *testing.T, cfg map[string]string) (int, int) {
				mu.Lock()
				defer mu.Unlock()
				return delivered(t, stores[cfg[KeyLocalDir]])
			},
			BadConfig: badS3Config,
		})
	})
	t.Run("s3", func(t *testing.T) {
		var mu sync.Mutex
		type target struct {
			store objectStore
			gate  *gate
		}
		targets := map[string]target{} // store.url -> server
		conformance.RunSink(t, conformance.Sink{
			Plugins: []connect.Plugin{Plugin()},
			Class:   Class,
			Config: func(t *testing.T, topic string) map[string]string {
				cfg, store, g := gatedS3(t)
				mu.Lock()
				targets[cfg[KeyStoreURL]] = target{store, g}
				mu.Unlock()
				return withCfg(merge(base, cfg), "connector.class", Class, "topics", topic)
			},
			Delivered: func(t *testing.T, cfg map[string]string) (int, int) {
				mu.Lock()
				defer mu.Unlock()
				return delivered(t, targets[cfg[KeyStoreURL]].store)
			},
			Stall: func(t *testing.T, cfg map[string]string) (func() bool, func()) {
				mu.Lock()
				g := targets[cfg[KeyStoreURL]].gate
				mu.Unlock()
				g.stall()
				return func() bool { return g.waiting.Load() > 0 }, g.release
			},
			BadConfig: badS3Config,
		})
	})
}

// badS3Config breaks a rule across keys (Check): gzip is for JsonFormat
// only, refused by validation as by Start.
func badS3Config(cfg map[string]string) string {
	cfg[KeyFormatClass] = ParquetFormatClass
	cfg[KeyCompressionType] = "gzip"
	return KeyCompressionType
}

func merge(a, b map[string]string) map[string]string {
	out := withCfg(a)
	for k, v := range b {
		out[k] = v
	}
	return out
}

// delivered reads every data file of store and returns the distinct
// lines (record values) and all lines.
func delivered(t *testing.T, store objectStore) (distinct, total int) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range dataKeys(store.list(t)) {
		sc := bufio.NewScanner(bytes.NewReader(store.read(t, k)))
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			seen[sc.Text()] = true
			total++
		}
	}
	return len(seen), total
}

// gate holds requests that write (PUT, POST) while stalled, until released
// or abandoned by the client.
type gate struct {
	h       http.Handler
	mu      sync.Mutex
	held    chan struct{} // non-nil while stalled; closed on release
	waiting atomic.Int32
}

func (g *gate) stall() {
	g.mu.Lock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
	g.mu.Unlock()
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		g.mu.Lock()
		held := g.held
		g.mu.Unlock()
		if held != nil {
			g.waiting.Add(1)
			select {
			case <-held:
				g.waiting.Add(-1)
			case <-r.Context().Done():
				g.waiting.Add(-1)
				return
			}
		}
	}
	g.h.ServeHTTP(w, r)
}

// gatedS3 is fakeS3 behind a gate.
func gatedS3(t *testing.T) (map[string]string, s3Objects, *gate) {
	t.Helper()
	g := &gate{h: gofakes3.New(s3mem.New()).Server()}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	t.Cleanup(g.release)
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{
		KeyBucket: "lake", KeyRegion: "us-east-1", KeyStoreURL: srv.URL, KeyPathStyle: "true",
		KeyAccessKeyID: "k", KeySecretAccessKey: "s",
	}
	return cfg, s3Objects{c: c, bucket: "lake"}, g
}
