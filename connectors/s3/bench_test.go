package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// flatGo mirrors flatSchema for the raw parquet-go baseline.
type flatGo struct {
	ID    int32     `parquet:"id"`
	Tiny  int8      `parquet:"tiny"`
	Small *int16    `parquet:"small,optional"`
	Big   int64     `parquet:"big"`
	F32   float32   `parquet:"f32"`
	F64   *float64  `parquet:"f64,optional"`
	OK    bool      `parquet:"ok"`
	Name  *string   `parquet:"name,optional"`
	Raw   []byte    `parquet:"raw,optional"`
	Price []byte    `parquet:"price"` // same physical BYTE_ARRAY as the sink's DECIMAL(10,2)
	Day   *int32    `parquet:"day,optional,date"`
	At    int32     `parquet:"at,time(millisecond)"`
	TS    time.Time `parquet:"ts,timestamp(millisecond)"`
	MTS   *int64    `parquet:"mts,optional,timestamp(microsecond)"`
}

func flatGoValue(id int) flatGo {
	v := flatGo{ID: int32(id), Tiny: int8(id % 100), Big: int64(id) * 1_000_000_007, F32: float32(id) / 2, OK: id%2 == 0,
		Price: connect.TwosComplement(bigInt(int64(id)*100 + 99)), At: int32(id * 1000), TS: baseTime.Add(timeSec(id))}
	if id%3 != 0 {
		small, f64, name, day, mts := int16(-id), float64(id)*1.5, "item-"+strconv.Itoa(id), int32(19000+id), baseTime.UnixMicro()+int64(id)
		v.Small, v.F64, v.Name, v.Raw, v.Day, v.MTS = &small, &f64, &name, []byte{byte(id), 0xff}, &day, &mts
	}
	return v
}

// TestBenchS3Sink measures rows/s through the SinkTask (local storage and
// versitygw) against raw parquet-go encoding of the same rows. It runs only
// with SLUICE_BENCH=1 (scripts/bench-s3).
func TestBenchS3Sink(t *testing.T) {
	if os.Getenv("SLUICE_BENCH") != "1" {
		t.Skip("set SLUICE_BENCH=1 (make bench-s3)")
	}
	rows := testenv.EnvInt("SLUICE_BENCH_ROWS", 400_000)
	const parts = 4
	const flush = 50_000

	reps := testenv.EnvInt("SLUICE_BENCH_REPS", 3)

	// Raw parquet-go: GenericWriter over Go structs, snappy, to io.Discard,
	// one file per flush.size rows like the sink.
	goRows := make([]flatGo, rows)
	for i := range goRows {
		goRows[i] = flatGoValue(i)
	}
	rawEncode := func() time.Duration {
		start := time.Now()
		for i := 0; i < rows; i += flush {
			w := parquet.NewGenericWriter[flatGo](io.Discard, parquet.Compression(&parquet.Snappy))
			end := min(i+flush, rows)
			for j := i; j < end; j += 1000 {
				if _, err := w.Write(goRows[j:min(j+1000, end)]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}

	recs := make([]*connect.Record, rows)
	for i := range recs {
		recs[i] = flatRecord("bench", int32(i%parts), int64(i/parts), i)
	}
	var tps []connect.TopicPartition
	for p := range parts {
		tps = append(tps, connect.TopicPartition{Topic: "bench", Partition: int32(p)})
	}
	sink := func(cfg map[string]string, discard bool) time.Duration {
		cfg = withCfg(cfg, KeyFlushSize, strconv.Itoa(flush/parts), KeyFormatClass, ParquetFormatClass,
			KeyTopicsDir, fmt.Sprintf("bench%d", time.Now().UnixNano()))
		tk, _ := openTask(t, cfg, tps)
		defer tk.Close()
		if discard {
			tk.st = discardStorage{}
		}
		start := time.Now()
		for i := 0; i < rows; i += 500 {
			if err := tk.Put(context.Background(), recs[i:min(i+500, rows)]); err != nil {
				t.Fatal(err)
			}
		}
		cur := map[connect.TopicPartition]int64{}
		for _, tp := range tps {
			cur[tp] = int64(rows / parts)
		}
		if _, err := tk.Flush(context.Background(), cur); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	local, _ := localStore(t)
	vg, _ := versity(t)
	// The storage floor: one sink file's bytes written to local storage as
	// many times as the sink writes files, one after the other (create,
	// write, fsync, rename, directory fsync), without encoding.
	var file bytes.Buffer
	enc, err := newParquetEncoder(&file, flatSchema, "snappy")
	if err != nil {
		t.Fatal(err)
	}
	for i := range flush / parts {
		if err := enc.write(flatValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.close(); err != nil {
		t.Fatal(err)
	}
	files := (rows + flush/parts - 1) / (flush / parts)
	floorRun := 0
	storageFloor := func() time.Duration {
		floorRun++
		st := &localStorage{root: local[KeyLocalDir]}
		start := time.Now()
		for i := range files {
			key := fmt.Sprintf("floor%d/bench/partition=%d/f%d.snappy.parquet", floorRun, i%parts, i)
			if err := st.put(context.Background(), key, file.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	modes := []struct {
		name string
		run  func() time.Duration
	}{
		{"raw parquet-go GenericWriter encode -> io.Discard", rawEncode},
		{"SinkTask (Parquet snappy) -> discard storage", func() time.Duration { return sink(local, true) }},
		{"SinkTask (Parquet snappy) -> local storage", func() time.Duration { return sink(local, false) }},
		{"SinkTask (Parquet snappy) -> versitygw S3", func() time.Duration { return sink(vg, false) }},
		{fmt.Sprintf("local storage alone: %d files of %d KiB, one at a time", files, file.Len()>>10), storageFloor},
	}
	times := make([][]time.Duration, len(modes))
	cpus := make([][]time.Duration, len(modes)) // process CPU (user+sys) per run
	for rep := range reps {                     // interleaved, so machine noise hits every mode
		line := fmt.Sprintf("rep %d:", rep+1)
		for i, m := range modes {
			runtime.GC() // start each run with the same heap
			c0 := processCPU()
			d := m.run()
			times[i] = append(times[i], d)
			cpus[i] = append(cpus[i], processCPU()-c0)
			line += fmt.Sprintf("  %.0f rows/s", float64(rows)/d.Seconds())
			if i > 0 { // ratio to raw in the same repetition
				line += fmt.Sprintf(" (%.2fx)", times[0][rep].Seconds()/d.Seconds())
			}
		}
		t.Log(line)
		fmt.Println("BENCH", line)
	}
	for i, m := range modes {
		ratios := make([]float64, reps)
		for r := range reps {
			ratios[r] = times[0][r].Seconds() / times[i][r].Seconds()
		}
		wall, cpu := slices.Clone(times[i]), slices.Clone(cpus[i])
		slices.Sort(wall)
		slices.Sort(cpu)
		slices.Sort(ratios)
		report(t, m.name, rows, wall[0], wall[len(wall)/2], ratios[len(ratios)/2], cpu[len(cpu)/2])
	}
}

// processCPU is the CPU time (user+system) the test process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discardStorage struct{}

func (discardStorage) create(context.Context, string) (upload, error) { return discardUpload{}, nil }
func (discardStorage) get(context.Context, string) ([]byte, error)    { return nil, errNotFound }
func (discardStorage) put(context.Context, string, []byte) error      { return nil }
func (discardStorage) remove(context.Context, string) error           { return nil }

type discardUpload struct{}

func (discardUpload) Write(p []byte) (int, error)  { return len(p), nil }
func (discardUpload) commit(context.Context) error { return nil }
func (discardUpload) abort(context.Context) error  { return nil }
func (discardUpload) memBytes() int64              { return 0 }
func (discardUpload) spill() error                 { return nil }

func report(t *testing.T, name string, rows int, best, median time.Duration, ratio float64, cpu time.Duration) {
	line := fmt.Sprintf("%-50s %8d rows  best %7.3fs %9.0f rows/s  median %7.3fs %9.0f rows/s  median ratio to raw %.2fx  median CPU %.2f us/row",
		name, rows, best.Seconds(), float64(rows)/best.Seconds(), median.Seconds(), float64(rows)/median.Seconds(), ratio,
		float64(cpu.Microseconds())/float64(rows))
	t.Log(line)
	fmt.Println("BENCH", line)
}

// BenchmarkSinkParquet is TestBenchS3Sink's sink path (discard and local
// storage) as a Go benchmark, for profiling (go test -run '^$' -bench
// SinkParquet -cpuprofile).
func BenchmarkSinkParquet(b *testing.B) {
	for _, discard := range []bool{true, false} {
		name := "local"
		if discard {
			name = "discard"
		}
		b.Run(name, func(b *testing.B) { benchSinkParquet(b, discard) })
	}
}

func benchSinkParquet(b *testing.B, discard bool) {
	const rows, parts, flush = 50_000, 4, 50_000
	recs := make([]*connect.Record, rows)
	for i := range recs {
		recs[i] = flatRecord("bench", int32(i%parts), int64(i/parts), i)
	}
	var tps []connect.TopicPartition
	for p := range parts {
		tps = append(tps, connect.TopicPartition{Topic: "bench", Partition: int32(p)})
	}
	t := &testing.T{}
	local := map[string]string{KeyStorage: "local", KeyLocalDir: b.TempDir()}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		cfg := withCfg(local, KeyFlushSize, strconv.Itoa(flush/parts), KeyFormatClass, ParquetFormatClass,
			KeyTopicsDir, "bench"+strconv.Itoa(n))
		tk, _ := openTask(t, cfg, tps)
		if discard {
			tk.st = discardStorage{}
		}
		for i := 0; i < rows; i += 500 {
			if err := tk.Put(context.Background(), recs[i:min(i+500, rows)]); err != nil {
				b.Fatal(err)
			}
		}
		cur := map[connect.TopicPartition]int64{}
		for _, tp := range tps {
			cur[tp] = int64(rows / parts)
		}
		if _, err := tk.Flush(context.Background(), cur); err != nil {
			b.Fatal(err)
		}
		tk.Close()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
