package opensearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

var benchValue = connect.NewStruct().
	Field("id", connect.NewSchema(connect.Int64).Build()).
	Field("customer_id", connect.NewSchema(connect.Int32).Build()).
	Field("amount", connect.DecimalSchema(2).Build()).
	Field("status", connect.NewSchema(connect.String).Build()).
	Field("note", connect.NewSchema(connect.String).Build()).
	Field("ordered_at", connect.NewSchema(connect.Int64).Name(dbzMicroTimestamp).Build()).Build()

func benchRecords(n int) []*connect.Record {
	recs := make([]*connect.Record, n)
	for i := range recs {
		id := int64(i)
		v := connect.NewStructValue(benchValue).Set("id", id).Set("customer_id", int32(i%1000)).
			Set("amount", connect.Decimal{Unscaled: big.NewInt(int64(1000 + i%99000)), Scale: 2}).
			Set("status", "shipped").Set("note", fmt.Sprintf("order %d for customer %d, two items, express delivery", i, i%1000)).
			Set("ordered_at", int64(1700000000000000)+id*1000)
		recs[i] = &connect.Record{Topic: "orders", Partition: int32(i % 4), Offset: id / 4,
			KeySchema: keySchema, Key: connect.NewStructValue(keySchema).Set("id", id), ValueSchema: benchValue, Value: v,
			OriginalTopic: "orders", OriginalPartition: int32(i % 4), OriginalOffset: id / 4}
	}
	return recs
}

// TestBenchOpenSearch (make bench-opensearch) measures the sink's docs/s
// into opensearchtest against raw _bulk requests carrying the same
// documents, pre-serialized, with the same batch size and concurrency.
func TestBenchOpenSearch(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_OPENSEARCH") == "" {
		t.Skip("set SLUICE_BENCH_OPENSEARCH=1 (make bench-opensearch)")
	}
	n := testenv.EnvInt("SLUICE_BENCH_RECORDS", 200000)
	reps := testenv.EnvInt("SLUICE_BENCH_REPS", 3)
	const batch, inFlight = 2000, 5
	recs := benchRecords(n)
	ctx := context.Background()

	// The raw workload: the sink's own operations, serialized up front.
	var bodies [][]byte
	{
		srv := opensearchtest.Start()
		task := openTask(t, srv, map[string]string{KeyBatchSize: strconv.Itoa(batch), KeyMaxBuffered: "20000"})
		var buf bytes.Buffer
		for i, r := range recs {
			o, err := task.toOp(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(o.meta)
			buf.WriteByte('\n')
			buf.Write(o.src)
			buf.WriteByte('\n')
			if (i+1)%batch == 0 || i == len(recs)-1 {
				bodies = append(bodies, bytes.Clone(buf.Bytes()))
				buf.Reset()
			}
		}
		task.Close()
		srv.Close()
	}
	runSink := func() float64 {
		srv := opensearchtest.Start()
		defer srv.Close()
		task := openTask(t, srv, map[string]string{KeyBatchSize: strconv.Itoa(batch), KeyMaxInFlight: strconv.Itoa(inFlight),
			KeyMaxBuffered: "20000", KeySchemaIgnore: "true"})
		cur := map[connect.TopicPartition]int64{}
		start := time.Now()
		for i := 0; i < len(recs); i += 500 {
			if err := task.Put(ctx, recs[i:min(i+500, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range recs {
			tp, off := r.KafkaCoordinates()
			cur[tp] = max(cur[tp], off+1)
		}
		got, err := task.Flush(ctx, cur)
		el := time.Since(start)
		if err != nil || len(got) != len(cur) {
			t.Fatalf("flush: %v %v", got, err)
		}
		if c := len(srv.Docs("orders")); c != n {
			t.Fatalf("%d docs indexed, want %d", c, n)
		}
		return float64(n) / el.Seconds()
	}
	runRaw := func() float64 {
		srv := opensearchtest.Start()
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight + 2}}
		work := make(chan []byte)
		var wg sync.WaitGroup
		start := time.Now()
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range work {
					resp, err := client.Post(srv.URL+"/_bulk", "application/x-ndjson", bytes.NewReader(b))
					if err != nil {
						t.Error(err)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		for _, b := range bodies {
			work <- b
		}
		close(work)
		wg.Wait()
		el := time.Since(start)
		if c := len(srv.Docs("orders")); c != n {
			t.Fatalf("raw: %d docs indexed, want %d", c, n)
		}
		return float64(n) / el.Seconds()
	}
	var sink, raw []float64
	for range reps {
		raw = append(raw, runRaw())
		sink = append(sink, runSink())
	}
	stats := func(v []float64) (best, median float64) {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)-1], s[len(s)/2]
	}
	sb, sm := stats(sink)
	rb, rm := stats(raw)
	fmt.Printf("BENCH\tsluice OpenSearch sink (Put+Flush)\t%d\t%.0f\t%.0f\t%.2f\n", n, sb, sm, sm/rm)
	fmt.Printf("BENCH\traw _bulk (pre-serialized, same bodies)\t%d\t%.0f\t%.0f\t1.00\n", n, rb, rm)
}
