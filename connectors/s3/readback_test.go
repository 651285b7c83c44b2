package s3

import (
	"bytes"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/*.golden.parquet")

// TestParquetGoldenBytes pins the encoder's output byte for byte: files
// must stay identical across encoder rewrites (regenerate with
// -update-golden only for an intended format change).
func TestParquetGoldenBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema *connect.Schema
		value  func(int) *connect.Struct
		codec  string
	}{
		{"all_types_snappy", allTypesSchema, allTypesValue, "snappy"},
		{"all_types_none", allTypesSchema, allTypesValue, "none"},
		{"flat_zstd", flatSchema, flatValue, "zstd"},
		{"nested_snappy", nestedSchema, nestedValue, "snappy"},
	} {
		for _, raw := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/raw=%v", tc.name, raw), func(t *testing.T) {
				var buf bytes.Buffer
				e, err := newParquetEncoder(&buf, tc.schema, tc.codec)
				if err != nil {
					t.Fatal(err)
				}
				if raw && !e.sh.raw {
					t.Fatal("rawValue does not match parquet.Value's layout: the fast path is off")
				}
				e.sh.raw = raw
				for i := range 700 {
					if err := e.write(tc.value(i)); err != nil {
						t.Fatalf("row %d: %v", i, err)
					}
					if i == 400 { // a second row group
						if err := e.flushBuffered(); err != nil {
							t.Fatal(err)
						}
					}
				}
				e.w.SetKeyValueMetadata("kafka.topic", "golden")
				if err := e.close(); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", tc.name+".golden.parquet")
				if *updateGolden && !raw {
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Fatalf("encoded %d bytes differ from %s (%d bytes)", buf.Len(), path, len(want))
				}
			})
		}
	}
}

// TestParquetReadBackAllTypes writes every Connect type through the task
// into local storage, reads the files back with parquet-go's typed reader
// and compares each value with the Connect value it came from.
func TestParquetReadBackAllTypes(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "300", KeyFormatClass, ParquetFormatClass)
	tp := connect.TopicPartition{Topic: "all", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	const n = 900
	var recs []*connect.Record
	for i := range n {
		recs = append(recs, &connect.Record{Topic: tp.Topic, Offset: int64(i), ValueSchema: allTypesSchema, Value: allTypesValue(i), Timestamp: baseTime})
	}
	for i := 0; i < n; i += 128 {
		mustPut(t, tk, recs[i:min(i+128, n)]...)
	}
	keys := dataKeys(store.list(t))
	if len(keys) != 3 {
		t.Fatalf("keys = %v, want 3 files", keys)
	}
	var got []allGoRow
	var maps []map[string]any
	for _, k := range keys {
		if strings.Contains(k, ".sluice-tmp") {
			t.Fatalf("temp file left: %s", k)
		}
		b := store.read(t, k)
		got = append(got, readRows[allGoRow](t, b)...)
		maps = append(maps, readMaps(t, b)...)
	}
	if len(got) != n {
		t.Fatalf("read %d rows, want %d", len(got), n)
	}
	for i := range n {
		v := allTypesValue(i)
		want := expectAllTypes(t, v)
		g := got[i]
		// Decimals compare as numbers at the column's scale.
		for _, d := range []struct {
			name   string
			got    []byte
			scale  int32
			isNull bool
		}{{"dec", g.Dec, 2, false}, {"odec", g.ODec, 4, v.Get("odec") == nil}} {
			if d.isNull {
				if d.got != nil {
					t.Errorf("row %d %s: got %x, want null", i, d.name, d.got)
				}
				continue
			}
			if w := atScale(t, v.Get(d.name).(connect.Decimal), d.scale); connect.FromTwosComplement(d.got).Cmp(w) != 0 {
				t.Errorf("row %d %s: got %v, want %v", i, d.name, connect.FromTwosComplement(d.got), w)
			}
		}
		g.Dec, g.ODec = nil, nil
		normalizeEmpty(reflect.ValueOf(&g).Elem())
		normalizeEmpty(reflect.ValueOf(&want).Elem())
		if !reflect.DeepEqual(g, want) {
			gv, wv := reflect.ValueOf(g), reflect.ValueOf(want)
			for f := range gv.NumField() {
				if !reflect.DeepEqual(gv.Field(f).Interface(), wv.Field(f).Interface()) {
					t.Errorf("row %d field %s: got %s, want %s", i, gv.Type().Field(f).Name, show(gv.Field(f)), show(wv.Field(f)))
				}
			}
		}
		// Null collections stay null, empty ones stay empty (the typed
		// reader cannot tell them apart).
		for _, name := range []string{"ostrs", "structs", "matrix", "attrs", "byid", "nested"} {
			if (maps[i][name] == nil) != (v.Get(name) == nil) {
				t.Errorf("row %d %s: read %v, wrote %v", i, name, maps[i][name], v.Get(name))
			}
		}
	}
}

func atScale(t *testing.T, d connect.Decimal, scale int32) *big.Int {
	t.Helper()
	u := new(big.Int).Set(d.Unscaled)
	for s := d.Scale; s < scale; s++ {
		u.Mul(u, big.NewInt(10))
	}
	for s := d.Scale; s > scale; s-- {
		var r big.Int
		u.QuoRem(u, big.NewInt(10), &r)
		if r.Sign() != 0 {
			t.Fatalf("decimal %v does not fit scale %d", d, scale)
		}
	}
	return u
}

// expectAllTypes converts a Connect value of allTypesSchema to what the
// Parquet file must hold.
func expectAllTypes(t *testing.T, v *connect.Struct) allGoRow {
	t.Helper()
	days := func(x any) int32 {
		if tm, ok := x.(time.Time); ok {
			return int32(tm.Unix() / 86400)
		}
		return x.(int32)
	}
	millisOfDay := func(x any) int32 {
		if tm, ok := x.(time.Time); ok {
			return int32(tm.Sub(tm.Truncate(24*time.Hour)) / time.Millisecond)
		}
		return x.(int32)
	}
	millis := func(x any) int64 {
		if tm, ok := x.(time.Time); ok {
			return tm.UnixMilli()
		}
		return x.(int64)
	}
	r := allGoRow{
		I8: v.Get("i8").(int8), I16: v.Get("i16").(int16), I32: v.Get("i32").(int32), I64: v.Get("i64").(int64),
		F32: v.Get("f32").(float32), F64: v.Get("f64").(float64), B: v.Get("b").(bool), S: v.Get("s").(string),
		Raw: v.Get("raw").([]byte), OI8: ptrOf[int8](v.Get("oi8")), OI16: ptrOf[int16](v.Get("oi16")),
		OI32: ptrOf[int32](v.Get("oi32")), OI64: ptrOf[int64](v.Get("oi64")), OF32: ptrOf[float32](v.Get("of32")),
		OF64: ptrOf[float64](v.Get("of64")), OB: ptrOf[bool](v.Get("ob")), OS: ptrOf[string](v.Get("os")),
		Date: days(v.Get("date")), Time: millisOfDay(v.Get("time")), TS: millis(v.Get("ts")),
		DbzDate: v.Get("dbzdate").(int32), DbzTime: v.Get("dbztime").(int32), DbzMicroTime: v.Get("dbzmicrotime").(int64),
		DbzNanoTime: ptrOf[int64](v.Get("dbznanotime")), DbzTS: v.Get("dbzts").(int64), DbzNanoTS: v.Get("dbznanots").(int64),
		Last: v.Get("last").(string),
	}
	if b, ok := v.Get("oraw").([]byte); ok {
		r.ORaw = b
	}
	dflt := int32(42) // the schema default replaces null
	if x, ok := v.Get("dflt").(int32); ok {
		dflt = x
	}
	r.Dflt = &dflt
	if x := v.Get("odate"); x != nil {
		d := days(x)
		r.ODate = &d
	}
	if x := v.Get("ots"); x != nil {
		m := millis(x)
		r.OTS = &m
	}
	switch x := v.Get("dbzmicrots").(type) {
	case int64:
		r.DbzMicroTS = &x
	case time.Time:
		us := x.UnixMicro()
		r.DbzMicroTS = &us
	}
	inner := func(x any) *allGoInner {
		st, ok := x.(*connect.Struct)
		if !ok {
			return nil
		}
		return &allGoInner{X: st.Get("x").(int32), Label: ptrOf[string](st.Get("label"))}
	}
	if n, ok := v.Get("nested").(*connect.Struct); ok {
		r.Nested = &allGoNested{N: ptrOf[int64](n.Get("n")), Inner: inner(n.Get("inner"))}
		for _, s := range asSlice(n.Get("tags")) {
			r.Nested.Tags = append(r.Nested.Tags, s.(string))
		}
	}
	for _, x := range asSlice(v.Get("ints")) {
		r.Ints = append(r.Ints, x.(int32))
	}
	for _, x := range asSlice(v.Get("ostrs")) {
		r.OStrs = append(r.OStrs, ptrOf[string](x))
	}
	for _, x := range asSlice(v.Get("structs")) {
		r.Structs = append(r.Structs, *inner(x))
	}
	for _, x := range asSlice(v.Get("matrix")) {
		row := []int64{}
		for _, e := range asSlice(x) {
			row = append(row, e.(int64))
		}
		r.Matrix = append(r.Matrix, row)
	}
	if m, ok := v.Get("attrs").(map[any]any); ok {
		r.Attrs = map[string]*int64{}
		for k, x := range m {
			r.Attrs[k.(string)] = ptrOf[int64](x)
		}
	}
	if m, ok := v.Get("byid").(map[any]any); ok {
		r.ByID = map[int32]*allGoInner{}
		for k, x := range m {
			r.ByID[k.(int32)] = inner(x)
		}
	}
	return r
}

func ptrOf[T any](x any) *T {
	if v, ok := x.(T); ok {
		return &v
	}
	return nil
}

func asSlice(x any) []any {
	s, _ := x.([]any)
	return s
}

// normalizeEmpty turns empty slices and maps into nil, recursively.
func normalizeEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			normalizeEmpty(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		if v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				normalizeEmpty(v.Index(i))
			}
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			normalizeEmpty(e)
			v.SetMapIndex(k, e)
		}
	}
}

// show renders a value with pointers followed.
func show(v reflect.Value) string {
	var b strings.Builder
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				b.WriteString("nil")
				return
			}
			b.WriteString("&")
			walk(v.Elem())
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				fmt.Fprintf(&b, "%x", v.Bytes())
				return
			}
			b.WriteString("[")
			for i := range v.Len() {
				if i > 0 {
					b.WriteString(" ")
				}
				walk(v.Index(i))
			}
			b.WriteString("]")
		case reflect.Struct:
			b.WriteString("{")
			for i := range v.NumField() {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(v.Type().Field(i).Name + ":")
				walk(v.Field(i))
			}
			b.WriteString("}")
		case reflect.Map:
			b.WriteString("map[")
			for _, k := range v.MapKeys() {
				walk(k)
				b.WriteString(":")
				walk(v.MapIndex(k))
				b.WriteString(" ")
			}
			b.WriteString("]")
		default:
			fmt.Fprint(&b, v.Interface())
		}
	}
	walk(v)
	return b.String()
}

// TestParquetShredErrors checks that a bad value is rejected with an error
// naming the field and leaves the batch as it was, on both shredding paths
// (fixed slots for schemas without arrays or maps, appends otherwise).
func TestParquetShredErrors(t *testing.T) {
	set := func(mk func(int) *connect.Struct, f func(*connect.Struct)) func() *connect.Struct {
		return func() *connect.Struct { v := mk(5); f(v); return v }
	}
	for _, tc := range []struct {
		name   string
		schema *connect.Schema
		good   func(int) *connect.Struct
		bad    func() *connect.Struct
		want   string
	}{
		{"fixed type", flatSchema, flatValue, set(flatValue, func(v *connect.Struct) { v.Set("big", "x") }),
			"field big: value of Go type string does not match schema"},
		{"fixed required null", flatSchema, flatValue, set(flatValue, func(v *connect.Struct) { v.Set("ts", nil) }),
			"field ts: null value for required"},
		{"fixed decimal digits", flatSchema, flatValue, set(flatValue, func(v *connect.Struct) {
			v.Set("price", connect.Decimal{Unscaled: big.NewInt(12345), Scale: 3})
		}), "field price: decimal 12.345 has more than 2 fractional digits"},
		{"fixed nested type", nestedSchema, nestedValue, set(nestedValue, func(v *connect.Struct) {
			v.Get("mid").(*connect.Struct).Get("leaf").(*connect.Struct).Set("v", int32(1))
		}), "field mid.leaf.v: value of Go type int32 does not match schema"},
		{"fixed nested struct", nestedSchema, nestedValue, set(nestedValue, func(v *connect.Struct) { v.Set("req", "x") }),
			"field req: value of Go type string does not match schema"},
		{"fixed nested required null", nestedSchema, nestedValue, set(nestedValue, func(v *connect.Struct) {
			v.Get("mid").(*connect.Struct).Set("leaf", nil)
		}), "field mid.leaf: null value for required"},
		{"fixed time unit", flatSchema, flatValue, set(flatValue, func(v *connect.Struct) { v.Set("mts", allBase) }), ""},
		{"repeated type", allTypesSchema, allTypesValue, set(allTypesValue, func(v *connect.Struct) { v.Set("ints", []any{int32(1), "x"}) }),
			"field ints.element: value of Go type string does not match schema"},
		{"repeated dbz nanotime", allTypesSchema, allTypesValue, set(allTypesValue, func(v *connect.Struct) { v.Set("dbzmicrotime", allBase) }),
			"field dbzmicrotime: value of Go type time.Time does not match schema"},
	} {
		for _, raw := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/raw=%v", tc.name, raw), func(t *testing.T) {
				var buf bytes.Buffer
				e, err := newParquetEncoder(&buf, tc.schema, "none")
				if err != nil {
					t.Fatal(err)
				}
				e.sh.raw = raw
				if err := e.write(tc.good(1)); err != nil {
					t.Fatal(err)
				}
				err = e.write(tc.bad())
				if tc.want == "" { // accepted (time.Time for a Debezium timestamp)
					if err != nil {
						t.Fatalf("write: %v", err)
					}
				} else if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				if err := e.write(tc.good(2)); err != nil {
					t.Fatal(err)
				}
				if err := e.close(); err != nil {
					t.Fatal(err)
				}
				rows := readMaps(t, buf.Bytes())
				ids := []int32{1, 2}
				if tc.want == "" {
					ids = []int32{1, 5, 2}
				}
				if len(rows) != len(ids) {
					t.Fatalf("rows = %d, want %d", len(rows), len(ids))
				}
				for i, id := range ids {
					if rows[i]["id"] != nil && rows[i]["id"] != id {
						t.Errorf("row %d id = %v, want %d", i, rows[i]["id"], id)
					}
				}
				if tc.schema == flatSchema {
					var want bytes.Buffer
					e, _ := newParquetEncoder(&want, tc.schema, "none")
					e.write(tc.good(1))
					if tc.want == "" {
						e.write(tc.bad())
					}
					e.write(tc.good(2))
					e.close()
					if !bytes.Equal(buf.Bytes(), want.Bytes()) {
						t.Errorf("file after a rejected row differs from one without it")
					}
				}
			})
		}
	}
}

func TestTimeConversionsMatchConnect(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0), time.Unix(-1, 0), time.Unix(-1, 999_999_999), time.Unix(86399, 999_999_999), time.Unix(86400, 0),
		time.Date(1900, 2, 28, 23, 59, 59, 1_000_000, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.FixedZone("x", -7*3600)), allBase, allBase.In(time.FixedZone("y", 5*3600+1800)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	} {
		if got, want := daysSinceEpoch(tm), connect.DaysSinceEpoch(tm); got != want {
			t.Errorf("daysSinceEpoch(%v) = %d, want %d", tm, got, want)
		}
		if got, want := millisOfDay(tm), connect.MillisOfDay(tm); got != want {
			t.Errorf("millisOfDay(%v) = %d, want %d", tm, got, want)
		}
	}
}
