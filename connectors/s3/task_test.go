package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestPartitionerPaths(t *testing.T) {
	late := baseTime.Add(3 * time.Hour) // 2024-03-10T01:30:15Z = 2024-03-09 20:30 in New York
	cases := []struct {
		name string
		kv   []string
		ts   time.Time
		want string
	}{
		{"default", nil, baseTime, "topics/items/partition=3/items+3+0000000005.snappy.parquet"},
		{"default topics.dir", []string{KeyTopicsDir, "lake/raw/"}, baseTime, "lake/raw/items/partition=3/items+3+0000000005.snappy.parquet"},
		{"field", []string{KeyPartitionerClass, FieldPartitionerClass, KeyPartitionField, "tiny,ok"}, baseTime,
			"topics/items/tiny=5/ok=false/items+3+0000000005.snappy.parquet"},
		{"time hourly format", []string{KeyPartitionerClass, TimeBasedPartitionerClass, KeyPathFormat, "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
			KeyPartitionDuration, "3600000", KeyTimezone, "UTC", KeyLocale, "en-US", KeyTimestampExtractor, "Record"}, baseTime,
			"topics/items/year=2024/month=03/day=09/hour=22/items+3+0000000005.snappy.parquet"},
		{"time compact format", []string{KeyPartitionerClass, TimeBasedPartitionerClass, KeyPathFormat, "YYYYMMdd'T'HHmm",
			KeyPartitionDuration, "900000", KeyTimezone, "UTC", KeyLocale, "en-US", KeyTimestampExtractor, "Record"}, baseTime,
			"topics/items/20240309T2230/items+3+0000000005.snappy.parquet"},
		{"daily utc", []string{KeyPartitionerClass, DailyPartitionerClass, KeyTimezone, "UTC", KeyLocale, "en-US",
			KeyTimestampExtractor, "Record"}, late, "topics/items/year=2024/month=03/day=10/items+3+0000000005.snappy.parquet"},
		{"daily new york", []string{KeyPartitionerClass, DailyPartitionerClass, KeyTimezone, "America/New_York", KeyLocale, "en-US",
			KeyTimestampExtractor, "Record"}, late, "topics/items/year=2024/month=03/day=09/items+3+0000000005.snappy.parquet"},
		{"hourly record field", []string{KeyPartitionerClass, HourlyPartitionerClass, KeyTimezone, "UTC", KeyLocale, "en-US",
			KeyTimestampExtractor, "RecordField", KeyTimestampField, "ts"}, late,
			"topics/items/year=2024/month=03/day=09/hour=22/items+3+0000000005.snappy.parquet"}, // ts field = baseTime+5s
		{"hourly wallclock", []string{KeyPartitionerClass, HourlyPartitionerClass, KeyTimezone, "UTC", KeyLocale, "en-US"}, baseTime,
			"topics/items/year=2031/month=01/day=02/hour=03/items+3+0000000005.snappy.parquet"},
		{"json", []string{KeyFormatClass, JSONFormatClass}, baseTime, "topics/items/partition=3/items+3+0000000005.json"},
		{"parquet uncompressed", []string{KeyParquetCodec, "none"}, baseTime, "topics/items/partition=3/items+3+0000000005.parquet"},
	}
	wall := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, store := localStore(t)
			cfg = withCfg(cfg, append([]string{KeyFlushSize, "1", KeyFormatClass, ParquetFormatClass}, tc.kv...)...)
			tp := connect.TopicPartition{Topic: "items", Partition: 3}
			tk, _ := openTask(t, cfg, []connect.TopicPartition{tp}, WithClock(func() time.Time { return wall }))
			defer tk.Close()
			r := flatRecord("items", 3, 5, 5)
			r.Timestamp = tc.ts
			mustPut(t, tk, r)
			if got := dataKeys(store.list(t)); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("keys = %v, want %s", got, tc.want)
			}
		})
	}
}

type putStep struct {
	off   int64
	id    int
	ts    time.Duration // record timestamp offset from baseTime
	clock time.Duration // wall clock offset from baseTime when put
}

func TestRotation(t *testing.T) {
	v2 := connect.NewStruct().Name("items.Value").Version(2).Field("id", connect.Int32Schema).Field("extra", connect.OptionalStringSchema).Build()
	cases := []struct {
		name      string
		kv        []string
		steps     []putStep
		schemaAt  int64 // records at/after this offset use v2 (0 = never)
		flushAt   time.Duration
		wantFiles []string // start offsets with record counts "start:count"
		wantFlush int64
	}{
		{"flush.size", []string{KeyFlushSize, "3"}, seq(8, 0, 0), 0, 0,
			[]string{"0:3", "3:3"}, 6},
		{"rotate.interval.ms by record time", []string{KeyFlushSize, "100", KeyRotateInterval, "10000", KeyTimestampExtractor, "Record"},
			[]putStep{{0, 0, 0, 0}, {1, 1, 4 * time.Second, 0}, {2, 2, 9 * time.Second, 0}, {3, 3, 10 * time.Second, 0},
				{4, 4, 12 * time.Second, 0}, {5, 5, 25 * time.Second, 0}}, 0, 0,
			[]string{"0:3", "3:2"}, 5},
		{"rotate.schedule.interval.ms wall clock", []string{KeyFlushSize, "100", KeyRotateSchedule, "60000"},
			[]putStep{{0, 0, 0, 0}, {1, 1, 0, 10 * time.Second}, {2, 2, 0, 50 * time.Second}, {3, 3, 0, 70 * time.Second}}, 0, 200 * time.Second,
			[]string{"0:2", "2:2"}, 4}, // boundaries at whole minutes: 22:31:00 falls between +10s and +50s
		{"rotate.interval.ms wall clock, committed by Flush", []string{KeyFlushSize, "100", KeyRotateInterval, "1000"},
			[]putStep{{0, 0, 0, 0}, {1, 1, 0, 500 * time.Millisecond}, {2, 2, 0, 1500 * time.Millisecond}, {3, 3, 0, 1600 * time.Millisecond}},
			0, 3 * time.Second, []string{"0:2", "2:2"}, 4},
		{"schema change rotates (NONE)", []string{KeyFlushSize, "100"}, seq(5, 0, 0), 2, 0,
			[]string{"0:2"}, 2},
		{"schema change rotates then flush.size", []string{KeyFlushSize, "2"}, seq(5, 0, 0), 1, 0,
			[]string{"0:1", "1:2", "3:2"}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, store := localStore(t)
			cfg = withCfg(cfg, append([]string{KeyFormatClass, ParquetFormatClass}, tc.kv...)...)
			var mu sync.Mutex
			clock := baseTime
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			tp := connect.TopicPartition{Topic: "items", Partition: 0}
			tk, _ := openTask(t, cfg, []connect.TopicPartition{tp}, WithClock(now))
			defer tk.Close()
			var last int64
			for _, st := range tc.steps {
				mu.Lock()
				clock = baseTime.Add(st.clock)
				mu.Unlock()
				r := flatRecord("items", 0, st.off, st.id)
				r.Timestamp = baseTime.Add(st.ts)
				if tc.schemaAt > 0 && st.off >= tc.schemaAt {
					r.ValueSchema = v2
					r.Value = connect.NewStructValue(v2).Set("id", int32(st.id))
				}
				mustPut(t, tk, r)
				last = st.off
			}
			mu.Lock()
			clock = baseTime.Add(tc.flushAt)
			mu.Unlock()
			got, err := tk.Flush(context.Background(), map[connect.TopicPartition]int64{tp: last + 1})
			if err != nil {
				t.Fatal(err)
			}
			if got[tp] != tc.wantFlush {
				t.Errorf("Flush offset = %d, want %d", got[tp], tc.wantFlush)
			}
			var files []string
			for _, k := range dataKeys(store.list(t)) {
				start := strings.TrimSuffix(k[strings.LastIndex(k, "+")+1:], ".snappy.parquet")
				files = append(files, strings.TrimLeft(start, "0")+":"+itoa(int(parquetFile(t, store.read(t, k)).NumRows())))
			}
			for i := range files {
				if strings.HasPrefix(files[i], ":") {
					files[i] = "0" + files[i]
				}
			}
			if !reflect.DeepEqual(files, tc.wantFiles) {
				t.Errorf("files = %v, want %v", files, tc.wantFiles)
			}
		})
	}
}

func seq(n int, ts, clock time.Duration) []putStep {
	out := make([]putStep, n)
	for i := range out {
		out[i] = putStep{off: int64(i), id: i, ts: ts, clock: clock}
	}
	return out
}

func TestSchemalessParquetFails(t *testing.T) {
	cfg, _ := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "10", KeyFormatClass, ParquetFormatClass)
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	err := tk.Put(context.Background(), []*connect.Record{{Topic: "events", Partition: 2, Offset: 41, Value: map[string]any{"a": int64(1)}}})
	var re *RecordError
	if !errors.As(err, &re) || !errors.Is(err, ErrSchemaless) {
		t.Fatalf("err = %v, want RecordError wrapping ErrSchemaless", err)
	}
	for _, want := range []string{"events-2@41", "Parquet requires records with schemas", "JsonFormat"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestJSONFormat(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "3", KeyFormatClass, JSONFormatClass, KeyNullValues, "ignore")
	tp := connect.TopicPartition{Topic: "events", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	small := connect.NewStruct().Field("id", connect.Int32Schema).Field("price", connect.DecimalSchema(2).Build()).
		Field("ts", connect.TimestampSchema().Build()).Field("tags", connect.NewArray(connect.StringSchema).Build()).Build()
	sv := connect.NewStructValue(small).Set("id", int32(7)).Set("price", connect.Decimal{Unscaled: bigInt(1234), Scale: 2}).
		Set("ts", baseTime).Set("tags", []any{"a", "b"})
	mustPut(t, tk,
		&connect.Record{Topic: "events", Offset: 0, Value: map[string]any{"b": "x", "a": []any{int64(1), 2.5, nil, true}}},
		&connect.Record{Topic: "events", Offset: 1, Value: nil}, // tombstone, ignored
		&connect.Record{Topic: "events", Offset: 2, Value: "plain string"},
		&connect.Record{Topic: "events", Offset: 3, ValueSchema: small, Value: sv})
	keys := dataKeys(store.list(t))
	if !reflect.DeepEqual(keys, []string{"topics/events/partition=0/events+0+0000000000.json"}) {
		t.Fatalf("keys = %v", keys)
	}
	lines := strings.Split(strings.TrimSuffix(string(store.read(t, keys[0])), "\n"), "\n")
	want := []string{
		`{"a":[1,2.5,null,true],"b":"x"}`,
		`"plain string"`,
		`{"id":7,"price":"BNI=","ts":1710023415000,"tags":["a","b"]}`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid JSON line %q", l)
		}
	}
	got, err := tk.Flush(context.Background(), map[connect.TopicPartition]int64{tp: 4})
	if err != nil || got[tp] != 4 {
		t.Fatalf("Flush = %v, %v; want 4", got, err)
	}
}

func TestNullValuesFailByDefault(t *testing.T) {
	cfg, _ := localStore(t)
	tk, _ := openTask(t, withCfg(cfg, KeyFlushSize, "3", KeyFormatClass, JSONFormatClass), nil)
	defer tk.Close()
	err := tk.Put(context.Background(), []*connect.Record{{Topic: "events", Partition: 1, Offset: 9}})
	if !errors.Is(err, ErrNullValue) || !strings.Contains(err.Error(), "events-1@9") {
		t.Fatalf("err = %v", err)
	}
}

func TestRevokeDropsBufferedData(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "3", KeyFormatClass, ParquetFormatClass)
	a, b := connect.TopicPartition{Topic: "items", Partition: 0}, connect.TopicPartition{Topic: "items", Partition: 1}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{a, b})
	defer tk.Close()
	mustPut(t, tk, flatRecord("items", 0, 0, 0), flatRecord("items", 1, 0, 1), flatRecord("items", 1, 1, 2))
	if err := tk.Revoke(context.Background(), []connect.TopicPartition{b}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tk, flatRecord("items", 0, 1, 3), flatRecord("items", 0, 2, 4))
	keys := store.list(t)
	if got := dataKeys(keys); !reflect.DeepEqual(got, []string{"topics/items/partition=0/items+0+0000000000.snappy.parquet"}) {
		t.Fatalf("keys = %v", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, ".sluice-tmp") {
			t.Errorf("temporary file left behind: %s", k)
		}
	}
	// Reassigned later, partition 1 starts over from the consumer's offset.
	if err := tk.Assign(context.Background(), []connect.TopicPartition{b}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tk, flatRecord("items", 1, 0, 1), flatRecord("items", 1, 1, 2), flatRecord("items", 1, 2, 5))
	if n := len(dataKeys(store.list(t))); n != 2 {
		t.Fatalf("files = %d, want 2", n)
	}
}

func TestConfigValidation(t *testing.T) {
	base := map[string]string{KeyBucket: "b", KeyFlushSize: "10", KeyFormatClass: ParquetFormatClass}
	cases := []struct {
		name    string
		kv      []string
		del     string
		wantKey string
		wantMsg string
	}{
		{"missing flush.size", nil, KeyFlushSize, KeyFlushSize, "Missing required"},
		{"flush.size zero", []string{KeyFlushSize, "0"}, "", KeyFlushSize, "at least 1"},
		{"missing bucket", nil, KeyBucket, KeyBucket, "Missing required"},
		{"avro", []string{KeyFormatClass, AvroFormatClass}, "", KeyFormatClass, "not supported"},
		{"unknown format", []string{KeyFormatClass, "x.Y"}, "", KeyFormatClass, "unknown format"},
		{"bad codec", []string{KeyParquetCodec, "brotli9"}, "", KeyParquetCodec, "snappy"},
		{"part size", []string{KeyPartSize, "1024"}, "", KeyPartSize, "at least 5242880"},
		{"partitioner", []string{KeyPartitionerClass, "com.x.Mine"}, "", KeyPartitionerClass, "unknown partitioner"},
		{"field without name", []string{KeyPartitionerClass, FieldPartitionerClass}, "", KeyPartitionField, "required"},
		{"time without path", []string{KeyPartitionerClass, TimeBasedPartitionerClass, KeyTimezone, "UTC", KeyLocale, "en"}, "", KeyPathFormat, "required"},
		{"daily without timezone", []string{KeyPartitionerClass, DailyPartitionerClass, KeyLocale, "en"}, "", KeyTimezone, "required"},
		{"bad timezone", []string{KeyTimezone, "Mars/Base"}, "", KeyTimezone, "unknown time zone"},
		{"bad path.format", []string{KeyPathFormat, "YYYY/EEE"}, "", KeyPathFormat, "unsupported pattern letter"},
		{"bad extractor", []string{KeyTimestampExtractor, "Sundial"}, "", KeyTimestampExtractor, "Wallclock"},
		{"compat", []string{KeySchemaCompatibility, "WHATEVER"}, "", KeySchemaCompatibility, "NONE"},
		{"null write parquet", []string{KeyNullValues, "write"}, "", KeyNullValues, "JsonFormat"},
		{"storage.class", []string{KeyStorageClass, "io.confluent.connect.hdfs.HdfsStorage"}, "", KeyStorageClass, "S3Storage"},
		{"local without dir", []string{KeyStorage, "local"}, "", KeyLocalDir, "required"},
		{"half credentials", []string{KeyAccessKeyID, "AK"}, "", KeySecretAccessKey, "together"},
		{"store.url scheme", []string{KeyStoreURL, "ftp://x"}, "", KeyStoreURL, "unsupported scheme"},
		{"rotate 0", []string{KeyRotateInterval, "0"}, "", KeyRotateInterval, "-1"},
		{"gzip parquet", []string{KeyCompressionType, "gzip"}, "", KeyCompressionType, "JsonFormat"},
		{"gzip level", []string{KeyCompressionLevel, "11"}, "", KeyCompressionLevel, "0 to 9"},
		{"sse name", []string{KeySSEA, "DES"}, "", KeySSEA, "AES256"},
		{"kms without kms", []string{KeySSEKMSKeyID, "k1", KeySSEA, "AES256"}, "", KeySSEKMSKeyID, "aws:kms"},
		{"acl", []string{KeyACLCanned, "everyone"}, "", KeyACLCanned, "bucket-owner-full-control"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := withCfg(base, tc.kv...)
			if tc.del != "" {
				delete(cfg, tc.del)
			}
			_, err := parseSettings(cfg)
			var ce *connect.ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.wantKey || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want ConfigError for %s containing %q", err, tc.wantKey, tc.wantMsg)
			}
			if err := (&Connector{}).Start(context.Background(), cfg); err == nil {
				t.Fatal("Connector.Start accepted an invalid config")
			}
		})
	}
	// Valid: file:// store.url selects local storage; path-style alias.
	s, err := parseSettings(withCfg(base, KeyStoreURL, "file:///tmp/lake", KeyPathStyleEnabled, "true"))
	if err != nil || !s.local || s.localDir != "/tmp/lake" || !s.pathStyle {
		t.Fatalf("settings = %+v, %v", s, err)
	}
	for _, tc := range []struct {
		kv   []string
		want bool
	}{
		{nil, false},
		{[]string{KeyStoreURL, "http://minio:9000"}, true},
		{[]string{KeyStoreURL, "http://minio:9000", KeyPathStyleEnabled, "false"}, false},
		{[]string{KeyPathStyle, "true"}, true},
	} {
		s, err := parseSettings(withCfg(base, tc.kv...))
		if err != nil || s.pathStyle != tc.want {
			t.Errorf("%v: path style %v, %v; want %v", tc.kv, s.pathStyle, err, tc.want)
		}
	}
}

func TestPluginDescriptor(t *testing.T) {
	p := Plugin()
	if p.Class != "io.confluent.connect.s3.S3SinkConnector" || !p.Matches("s3") || p.Type != "sink" {
		t.Fatalf("plugin = %+v", p)
	}
	c, ok := p.New().(connect.SinkConnector)
	if !ok {
		t.Fatal("not a SinkConnector")
	}
	cfg := map[string]string{KeyBucket: "b", KeyFlushSize: "10", KeyFormatClass: ParquetFormatClass}
	if err := c.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	tcs, err := c.TaskConfigs(3)
	if err != nil || len(tcs) != 3 || tcs[2][KeyBucket] != "b" {
		t.Fatalf("task configs = %v, %v", tcs, err)
	}
	if !c.ConfigDef().Secret(KeySecretAccessKey) {
		t.Error("secret key not masked")
	}
	if c.NewTask() == nil {
		t.Fatal("nil task")
	}
}

func TestMemoryCapSpillsToDisk(t *testing.T) {
	cfg, store := fakeS3(t)
	spill := t.TempDir()
	cfg = withCfg(cfg, KeyFlushSize, "40", KeyFormatClass, ParquetFormatClass, KeyParquetCodec, "none",
		KeyBufferMaxBytes, itoa(1<<20), KeyRowGroupBytes, itoa(256<<10), KeySpillDir, spill)
	blob := connect.NewStruct().Field("id", connect.Int32Schema).Field("data", connect.BytesSchema).Build()
	var tps []connect.TopicPartition
	for p := range 8 {
		tps = append(tps, connect.TopicPartition{Topic: "blobs", Partition: int32(p)})
	}
	tk, _ := openTask(t, cfg, tps)
	defer tk.Close()
	put := func(from, to int) {
		var recs []*connect.Record
		for off := from; off < to; off++ {
			for p := range 8 {
				data := make([]byte, 40<<10)
				for i := range data {
					data[i] = byte(i*31 + off*7 + p)
				}
				recs = append(recs, &connect.Record{Topic: "blobs", Partition: int32(p), Offset: int64(off), ValueSchema: blob,
					Value: connect.NewStructValue(blob).Set("id", int32(off)).Set("data", data)})
			}
		}
		mustPut(t, tk, recs...)
	}
	put(0, 30) // 8 partitions x 30 x 40 KiB = 9.6 MiB buffered, cap 1 MiB
	entries, _ := os.ReadDir(spill)
	if len(entries) == 0 {
		t.Fatal("nothing spilled to disk with 9.6 MiB buffered and a 1 MiB cap")
	}
	var mem int64
	for _, w := range tk.writers {
		for _, f := range w.order {
			mem += f.buffered()
		}
	}
	if mem > 1<<20 {
		t.Errorf("in-memory bytes %d exceed the 1 MiB cap", mem)
	}
	put(30, 40)
	keys := dataKeys(store.list(t))
	if len(keys) != 8 {
		t.Fatalf("files = %v", keys)
	}
	for _, k := range keys {
		f := parquetFile(t, store.read(t, k))
		if f.NumRows() != 40 || len(f.RowGroups()) < 2 {
			t.Errorf("%s: rows %d, row groups %d", k, f.NumRows(), len(f.RowGroups()))
		}
	}
	if entries, _ := os.ReadDir(spill); len(entries) != 0 {
		t.Errorf("spill files left: %d", len(entries))
	}
}

func TestJoda(t *testing.T) {
	ts := time.Date(2024, 1, 5, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct{ in, want string }{
		{"'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", "year=2024/month=01/day=05/hour=07"},
		{"yyyy-MM-dd'T'HH:mm:ss", "2024-01-05T07:08:09"},
		{"'it''s'/YY/D", "it's/24/5"},
		{"'dt'=YYYYMMdd", "dt=20240105"},
	} {
		toks, err := parseJoda(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := formatJoda(toks, ts); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"'open", "YYYY/MMM", "EEE", ""} {
		if _, err := parseJoda(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSchemaCompatibilityBackwardProjects(t *testing.T) {
	v1 := connect.NewStruct().Name("items.Value").Version(1).Field("id", connect.Int32Schema).Build()
	v2 := connect.NewStruct().Name("items.Value").Version(2).Field("id", connect.Int32Schema).
		Field("note", connect.NewSchema(connect.String).Optional().Default("n/a").Build()).Build()
	rec := func(off int64, s *connect.Schema) *connect.Record {
		v := connect.NewStructValue(s).Set("id", int32(off))
		if s == v2 {
			v.Set("note", "hi")
		}
		return &connect.Record{Topic: "items", Offset: off, ValueSchema: s, Value: v}
	}
	for _, tc := range []struct {
		compat string
		files  []int64 // rows per file
	}{
		{"NONE", []int64{1, 1, 1, 1}},
		{"BACKWARD", []int64{1, 3}}, // v1, then v2 ... older v1 records projected into the v2 file
		{"FORWARD", []int64{4}},     // the v1 file keeps v1; newer v2 records are projected onto it
	} {
		t.Run(tc.compat, func(t *testing.T) {
			cfg, store := localStore(t)
			cfg = withCfg(cfg, KeyFlushSize, "100", KeyFormatClass, ParquetFormatClass, KeySchemaCompatibility, tc.compat, KeyRotateSchedule, "60000")
			clock := baseTime
			tk, _ := openTask(t, cfg, nil, WithClock(func() time.Time { return clock }))
			defer tk.Close()
			mustPut(t, tk, rec(0, v1), rec(1, v2), rec(2, v1), rec(3, v2))
			clock = clock.Add(time.Hour)
			if _, err := tk.Flush(context.Background(), map[connect.TopicPartition]int64{{Topic: "items"}: 4}); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, k := range dataKeys(store.list(t)) {
				got = append(got, parquetFile(t, store.read(t, k)).NumRows())
			}
			if !reflect.DeepEqual(got, tc.files) {
				t.Fatalf("rows per file = %v, want %v", got, tc.files)
			}
			if tc.compat == "FORWARD" {
				rows := readMaps(t, store.read(t, dataKeys(store.list(t))[0]))
				if _, ok := rows[1]["note"]; ok || rows[1]["id"] != int32(1) {
					t.Errorf("projected rows = %v", rows)
				}
			}
			if tc.compat == "BACKWARD" {
				rows := readMaps(t, store.read(t, dataKeys(store.list(t))[1]))
				if rows[1]["note"] != "n/a" || rows[0]["note"] != "hi" {
					t.Errorf("projected rows = %v", rows)
				}
			}
		})
	}
}

func TestFailedCommitStopsOffsetReporting(t *testing.T) {
	cfg, _ := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "2", KeyFormatClass, ParquetFormatClass)
	tp := connect.TopicPartition{Topic: "items", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	mustPut(t, tk, flatRecord("items", 0, 0, 0))
	// Make the storage root unwritable for the upload: replace it with a file.
	root := cfg[KeyLocalDir]
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The commit may fail inside Put or in the background upload; Flush
	// must report it either way.
	tk.Put(context.Background(), []*connect.Record{flatRecord("items", 0, 1, 1)})
	if _, ferr := tk.Flush(context.Background(), map[connect.TopicPartition]int64{tp: 2}); ferr == nil {
		t.Fatal("Flush reported offsets after a failed commit dropped buffered records")
	}
	if perr := tk.Put(context.Background(), []*connect.Record{flatRecord("items", 0, 2, 2)}); perr == nil {
		t.Fatal("Put accepted records after a failed commit")
	}
}

func TestFlushNeverPassesUnprocessedRecords(t *testing.T) {
	cfg, _ := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "1", KeyFormatClass, ParquetFormatClass)
	tp := connect.TopicPartition{Topic: "items", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	bad := &connect.Record{Topic: "items", Offset: 1, Value: map[string]any{"schemaless": true}}
	err := tk.Put(context.Background(), []*connect.Record{flatRecord("items", 0, 0, 0), bad, flatRecord("items", 0, 2, 2)})
	if !errors.Is(err, ErrSchemaless) {
		t.Fatalf("err = %v", err)
	}
	got, err := tk.Flush(context.Background(), map[connect.TopicPartition]int64{tp: 3})
	if err != nil || got[tp] != 1 {
		t.Fatalf("Flush = %v, %v; want offset 1 (record 1 failed, 2 never processed)", got, err)
	}
}

func TestJSONWritesNullValues(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "2", KeyFormatClass, JSONFormatClass, KeyNullValues, "write")
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	mustPut(t, tk, &connect.Record{Topic: "events", Offset: 0, Value: map[string]any{"a": "b"}},
		&connect.Record{Topic: "events", Offset: 1})
	keys := dataKeys(store.list(t))
	if len(keys) != 1 || string(store.read(t, keys[0])) != "{\"a\":\"b\"}\nnull\n" {
		t.Fatalf("keys %v content %q", keys, store.read(t, keys[0]))
	}
}

func TestBadValueLeavesNoEmptyFile(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "2", KeyFormatClass, ParquetFormatClass)
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	bad := flatRecord("items", 0, 0, 0)
	bad.Value.(*connect.Struct).SetAt(0, "not an int32")
	err := tk.Put(context.Background(), []*connect.Record{bad})
	var re *RecordError
	if !errors.As(err, &re) || re.Offset != 0 || !strings.Contains(err.Error(), "field id") {
		t.Fatalf("err = %v", err)
	}
	mustPut(t, tk, flatRecord("items", 0, 1, 1), flatRecord("items", 0, 2, 2))
	keys := store.list(t)
	if !reflect.DeepEqual(dataKeys(keys), []string{"topics/items/partition=0/items+0+0000000001.snappy.parquet"}) {
		t.Fatalf("keys = %v", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, ".sluice-tmp") {
			t.Fatalf("temporary file left: %s", k)
		}
	}
}

func TestJSONGzip(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "2", KeyFormatClass, JSONFormatClass, KeyCompressionType, "gzip", KeyCompressionLevel, "9")
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	mustPut(t, tk, &connect.Record{Topic: "events", Offset: 0, Value: "a"}, &connect.Record{Topic: "events", Offset: 1, Value: int64(2)})
	keys := dataKeys(store.list(t))
	if !reflect.DeepEqual(keys, []string{"topics/events/partition=0/events+0+0000000000.json.gz"}) {
		t.Fatalf("keys = %v", keys)
	}
	zr, err := gzip.NewReader(bytes.NewReader(store.read(t, keys[0])))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || string(b) != "\"a\"\n2\n" {
		t.Fatalf("content %q, %v", b, err)
	}
}

func TestServerSideEncryptionAndACL(t *testing.T) {
	cfg, store := fakeS3(t)
	cfg = withCfg(cfg, KeyFlushSize, "1", KeyFormatClass, ParquetFormatClass, KeySSEA, "AES256", KeyACLCanned, "bucket-owner-full-control")
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	mustPut(t, tk, flatRecord("items", 0, 0, 0))
	if keys := dataKeys(store.list(t)); len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	st := tk.st.(*s3Storage)
	in := st.putInput("k", bytes.NewReader(nil), 0)
	if in.ServerSideEncryption != "AES256" || in.ACL != "bucket-owner-full-control" || in.SSEKMSKeyId != nil {
		t.Fatalf("put input = %+v", in)
	}
}

func TestAssignRemovesFilesOfUnfinishedCommit(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "5", KeyFormatClass, ParquetFormatClass)
	root := cfg[KeyLocalDir]
	orphan := "topics/items/partition=0/items+0+0000000010.snappy.parquet"
	kept := "topics/items/partition=0/items+0+0000000000.snappy.parquet"
	for _, k := range []string{orphan, kept} {
		p := root + "/" + k
		os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	mk := root + "/topics/_sluice/s3-test/items+0.json"
	os.MkdirAll(mk[:strings.LastIndex(mk, "/")], 0o755)
	os.WriteFile(mk, []byte(`{"next_offset":10,"pending":["`+orphan+`"]}`), 0o644)
	tp := connect.TopicPartition{Topic: "items", Partition: 0}
	tk, fc := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	if got := fc.seeks[tp]; got != 10 {
		t.Fatalf("seek = %v, want 10", fc.seeks)
	}
	if keys := dataKeys(store.list(t)); !reflect.DeepEqual(keys, []string{kept}) {
		t.Fatalf("keys = %v, want only %s", keys, kept)
	}
	// Records below the marker are skipped even if delivered.
	mustPut(t, tk, flatRecord("items", 0, 9, 9))
	got, err := tk.Flush(context.Background(), map[connect.TopicPartition]int64{tp: 10})
	if err != nil || got[tp] != 10 {
		t.Fatalf("Flush = %v, %v", got, err)
	}
}

func TestBackgroundCommitsFlushWaits(t *testing.T) {
	cfg, store := fakeS3(t)
	cfg = withCfg(cfg, KeyFlushSize, "10", KeyFormatClass, ParquetFormatClass, KeyUploadConcurrency, "2")
	var tps []connect.TopicPartition
	for p := range 5 {
		tps = append(tps, connect.TopicPartition{Topic: "items", Partition: int32(p)})
	}
	tk, _ := openTask(t, cfg, tps)
	defer tk.Close()
	cur := map[connect.TopicPartition]int64{}
	for off := range int64(100) {
		var recs []*connect.Record
		for p := range 5 {
			recs = append(recs, flatRecord("items", int32(p), off, p*1000+int(off)))
			cur[tps[p]] = off + 1
		}
		if err := tk.Put(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tk.Flush(context.Background(), cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range tps {
		if got[tp] != 100 {
			t.Errorf("offset for %v = %d, want 100", tp, got[tp])
		}
	}
	if n := len(dataKeys(store.list(t))); n != 50 {
		t.Fatalf("files = %d, want 50", n)
	}
	ids := bucketIDs(t, store)
	if len(ids) != 500 {
		t.Fatalf("distinct ids = %d", len(ids))
	}
}
