package connect

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestDecimalRoundTrip(t *testing.T) {
	tests := []struct {
		in    string
		bytes []byte
		scale int32
	}{
		{"0", []byte{0}, 0},
		{"1.00", []byte{100}, 2},
		{"127", []byte{0x7f}, 0},
		{"128", []byte{0x00, 0x80}, 0},
		{"-1", []byte{0xff}, 0},
		{"-128", []byte{0x80}, 0},
		{"-129", []byte{0xff, 0x7f}, 0},
		{"-12.345", []byte{0xcf, 0xc7}, 3},
		{"65536.5", []byte{0x0a, 0x00, 0x05}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDecimal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Scale != tt.scale {
				t.Fatalf("scale %d, want %d", d.Scale, tt.scale)
			}
			if got := d.UnscaledBytes(); string(got) != string(tt.bytes) {
				t.Fatalf("bytes %x, want %x", got, tt.bytes)
			}
			back := DecimalFromBytes(tt.bytes, tt.scale)
			if back.String() != tt.in {
				t.Fatalf("round trip %q, want %q", back.String(), tt.in)
			}
		})
	}
}

func TestTwosComplementExhaustive(t *testing.T) {
	for i := int64(-70000); i <= 70000; i += 7 {
		v := big.NewInt(i)
		if got := FromTwosComplement(TwosComplement(v)); got.Cmp(v) != 0 {
			t.Fatalf("%d round-tripped to %v", i, got)
		}
	}
}

func TestParseDecimalErrors(t *testing.T) {
	for _, s := range []string{"", "-", "1.2.3", "abc", "1e5"} {
		if _, err := ParseDecimal(s); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", s)
		}
	}
}

func TestValidate(t *testing.T) {
	inner := NewStruct().Name("inner").Field("x", Int32Schema).Build()
	outer := NewStruct().Name("outer").
		Field("id", Int64Schema).
		Field("name", OptionalStringSchema).
		Field("tags", NewArray(StringSchema).Build()).
		Field("attrs", NewMap(StringSchema, Int32Schema).Optional().Build()).
		Field("in", inner).
		Field("amount", DecimalSchema(2).Optional().Build()).
		Field("day", DateSchema().Optional().Build()).
		Build()
	good := func() *Struct {
		return NewStructValue(outer).
			Set("id", int64(1)).
			Set("tags", []any{"a"}).
			Set("in", NewStructValue(inner).Set("x", int32(3)))
	}
	tests := []struct {
		name    string
		mutate  func(*Struct)
		errPath string
	}{
		{"valid", func(*Struct) {}, ""},
		{"valid optional values", func(s *Struct) {
			s.Set("name", "n").Set("attrs", map[any]any{"k": int32(1)}).
				Set("amount", Decimal{Unscaled: big.NewInt(5), Scale: 2}).Set("day", time.Unix(0, 0))
		}, ""},
		{"missing required", func(s *Struct) { s.Set("id", nil) }, "id"},
		{"wrong primitive", func(s *Struct) { s.Set("id", int32(1)) }, "id"},
		{"wrong array element", func(s *Struct) { s.Set("tags", []any{"a", 3}) }, "tags.[1]"},
		{"wrong map value", func(s *Struct) { s.Set("attrs", map[any]any{"k": "v"}) }, "attrs.[k]"},
		{"nested", func(s *Struct) { s.Set("in", NewStructValue(inner)) }, "in.x"},
		{"decimal as float", func(s *Struct) { s.Set("amount", 1.5) }, "amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.mutate(s)
			err := s.Validate()
			if tt.errPath == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("want DataError at %q, got %v", tt.errPath, err)
			}
			if de.Path != tt.errPath {
				t.Fatalf("path %q, want %q (%v)", de.Path, tt.errPath, err)
			}
		})
	}
}

func TestStructPutUnknownField(t *testing.T) {
	s := NewStructValue(NewStruct().Field("a", Int32Schema).Build())
	if err := s.Put("b", int32(1)); err == nil || !strings.Contains(err.Error(), "b") {
		t.Fatalf("want error naming field b, got %v", err)
	}
	if err := s.Put("a", "x"); err == nil {
		t.Fatal("want type error")
	}
	if err := s.Put("a", int32(2)); err != nil || s.Get("a") != int32(2) {
		t.Fatalf("put: %v, got %v", err, s.Get("a"))
	}
}

func TestSchemaEqual(t *testing.T) {
	a := NewStruct().Name("n").Field("x", DecimalSchema(2).Build()).Build()
	b := NewStruct().Name("n").Field("x", DecimalSchema(2).Build()).Build()
	c := NewStruct().Name("n").Field("x", DecimalSchema(3).Build()).Build()
	if !a.Equal(b) {
		t.Fatal("equal schemas reported different")
	}
	if a.Equal(c) {
		t.Fatal("different scale reported equal")
	}
	var nilSchema *Schema
	if !nilSchema.Equal(nil) || a.Equal(nil) {
		t.Fatal("nil handling")
	}
}

func TestDateTimeConversions(t *testing.T) {
	d := time.Date(2024, 2, 29, 13, 14, 15, 16_000_000, time.UTC)
	if got := DateFromDays(DaysSinceEpoch(d)); !got.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("date round trip %v", got)
	}
	ms := MillisOfDay(d)
	if ms != 13*3600000+14*60000+15*1000+16 {
		t.Fatalf("millis of day %d", ms)
	}
	if got := TimeFromMillis(ms); got.Hour() != 13 || got.Nanosecond() != 16_000_000 {
		t.Fatalf("time round trip %v", got)
	}
	if DaysSinceEpoch(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)) != -1 {
		t.Fatal("negative days")
	}
}

func TestConfigDef(t *testing.T) {
	def := ConfigDef{
		{Name: "host", Type: TypeString},
		{Name: "port", Type: TypeInt, Default: "5432", HasDefault: true, Validate: AtLeast(1)},
		{Name: "mode", Type: TypeString, Default: "initial", HasDefault: true, Validate: OneOf("initial", "never")},
		{Name: "database.password", Type: TypePassword, Default: "", HasDefault: true},
	}
	tests := []struct {
		name    string
		cfg     map[string]string
		errKeys []string
	}{
		{"ok with defaults", map[string]string{"host": "h"}, nil},
		{"missing required", map[string]string{}, []string{"host"}},
		{"bad int", map[string]string{"host": "h", "port": "x"}, []string{"port"}},
		{"validator", map[string]string{"host": "h", "port": "0", "mode": "sometimes"}, []string{"port", "mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := def.Errors(tt.cfg)
			var keys []string
			for _, e := range errs {
				var ce *ConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("not a ConfigError: %v", e)
				}
				keys = append(keys, ce.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tt.errKeys, ",") {
				t.Fatalf("errors on %v, want %v (%v)", keys, tt.errKeys, errs)
			}
		})
	}
	c, err := def.Parse(map[string]string{"host": "h"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Int("port") != 5432 || c.String("mode") != "initial" {
		t.Fatalf("defaults not applied: %v", c)
	}
	if !def.Secret("database.password") || def.Secret("host") || !def.Secret("aws.secret.key") {
		t.Fatal("secret detection")
	}
	if got := SplitList(" a, ,b ,"); strings.Join(got, "|") != "a|b" {
		t.Fatalf("SplitList %q", got)
	}
}

func TestRecordClone(t *testing.T) {
	r := &Record{Topic: "t", Headers: []Header{{Key: "a", Value: "1"}}, SourceOffset: map[string]any{"lsn": 1}}
	c := r.Clone()
	c.Headers[0].Value = "2"
	c.SourceOffset["lsn"] = 2
	if r.Headers[0].Value != "1" || r.SourceOffset["lsn"] != 1 {
		t.Fatal("clone shares state")
	}
	r.OriginalTopic, r.OriginalPartition, r.OriginalOffset = "orig", 3, 9
	tp, off := r.KafkaCoordinates()
	if tp.Topic != "orig" || tp.Partition != 3 || off != 9 {
		t.Fatalf("coordinates %v %d", tp, off)
	}
	if h := r.Header("a"); h == nil || h.Value != "1" {
		t.Fatal("header lookup")
	}
}

// TestStructArena checks that arena structs are independent of each other
// and behave like NewStructValue's, across block boundaries.
func TestStructArena(t *testing.T) {
	small := NewStruct().Name("small").Field("a", Int32Schema).Field("b", OptionalStringSchema).Build()
	wideB := NewStruct().Name("wide")
	for i := 0; i < arenaValues/8+1; i++ {
		wideB.Field(fmt.Sprintf("f%d", i), OptionalInt64Schema)
	}
	wide := wideB.Build()
	for _, tc := range []struct {
		name   string
		schema *Schema
		n      int
	}{
		{"small across blocks", small, 3*arenaStructs + 7},
		{"wide, allocated alone", wide, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a StructArena
			sts := make([]*Struct, tc.n)
			for i := range sts {
				st := a.NewStructValue(tc.schema)
				if st.Schema() != tc.schema {
					t.Fatalf("struct %d has schema %v", i, st.Schema())
				}
				for j := range tc.schema.Fields {
					if st.At(j) != nil {
						t.Fatalf("struct %d field %d is %v, want unset", i, j, st.At(j))
					}
				}
				st.SetAt(0, int32(i))
				sts[i] = st
			}
			for i, st := range sts {
				if got := st.At(0); got != int32(i) {
					t.Fatalf("struct %d field 0 = %v after building the others; want %d", i, got, i)
				}
				if tc.schema == small {
					st.Set("b", "x")
					if err := st.Validate(); err != nil {
						t.Fatalf("struct %d: %v", i, err)
					}
					if i+1 < len(sts) && sts[i+1].Get("b") != nil {
						t.Fatalf("setting struct %d changed struct %d", i, i+1)
					}
				}
				if want := NewStructValue(tc.schema); tc.schema == small && st.String() == want.String() {
					t.Fatalf("struct %d renders as an empty struct", i)
				}
			}
		})
	}
	t.Run("non-struct schema panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		var a StructArena
		a.NewStructValue(Int32Schema)
	})
}
