package s3

import (
	"math/big"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// allTypesSchema covers every Connect type and logical type the Parquet
// format supports: required and optional primitives, decimals of several
// scales, Connect and Debezium temporal types in both of their Go
// representations, defaults, nested structs, arrays (of primitives,
// structs and arrays) and maps (string and int keys).
var (
	allInner = connect.NewStruct().Name("inner").Optional().
			Field("x", connect.Int32Schema).
			Field("label", connect.OptionalStringSchema).
			Build()
	allNested = connect.NewStruct().Name("nested").Optional().
			Field("n", connect.OptionalInt64Schema).
			Field("inner", allInner).
			Field("tags", connect.NewArray(connect.StringSchema).Optional().Build()).
			Build()
	allTypesSchema = connect.NewStruct().Name("all.types.Value").
			Field("i8", connect.Int8Schema).
			Field("i16", connect.Int16Schema).
			Field("i32", connect.Int32Schema).
			Field("i64", connect.Int64Schema).
			Field("f32", connect.Float32Schema).
			Field("f64", connect.Float64Schema).
			Field("b", connect.BooleanSchema).
			Field("s", connect.StringSchema).
			Field("raw", connect.BytesSchema).
			Field("oi8", connect.OptionalInt8Schema).
			Field("oi16", connect.OptionalInt16Schema).
			Field("oi32", connect.OptionalInt32Schema).
			Field("oi64", connect.OptionalInt64Schema).
			Field("of32", connect.OptionalFloat32Schema).
			Field("of64", connect.OptionalFloat64Schema).
			Field("ob", connect.OptionalBooleanSchema).
			Field("os", connect.OptionalStringSchema).
			Field("oraw", connect.OptionalBytesSchema).
			Field("dflt", connect.NewSchema(connect.Int32).Optional().Default(int32(42)).Build()).
			Field("dec", connect.DecimalSchema(2).Param(decimalPrecParam, "20").Build()).
			Field("odec", connect.DecimalSchema(4).Optional().Build()).
			Field("date", connect.DateSchema().Build()).
			Field("odate", connect.DateSchema().Optional().Build()).
			Field("time", connect.TimeSchema().Build()).
			Field("ts", connect.TimestampSchema().Build()).
			Field("ots", connect.TimestampSchema().Optional().Build()).
			Field("dbzdate", connect.NewSchema(connect.Int32).Name(dbzDate).Build()).
			Field("dbztime", connect.NewSchema(connect.Int32).Name(dbzTime).Build()).
			Field("dbzmicrotime", connect.NewSchema(connect.Int64).Name(dbzMicroTime).Build()).
			Field("dbznanotime", connect.NewSchema(connect.Int64).Name(dbzNanoTime).Optional().Build()).
			Field("dbzts", connect.NewSchema(connect.Int64).Name(dbzTimestamp).Build()).
			Field("dbzmicrots", connect.NewSchema(connect.Int64).Name(dbzMicroTimestamp).Optional().Build()).
			Field("dbznanots", connect.NewSchema(connect.Int64).Name(dbzNanoTimestamp).Build()).
			Field("nested", allNested).
			Field("ints", connect.NewArray(connect.Int32Schema).Build()).
			Field("ostrs", connect.NewArray(connect.OptionalStringSchema).Optional().Build()).
			Field("structs", connect.NewArray(allInner).Optional().Build()).
			Field("matrix", connect.NewArray(connect.NewArray(connect.Int64Schema).Build()).Optional().Build()).
			Field("attrs", connect.NewMap(connect.StringSchema, connect.OptionalInt64Schema).Optional().Build()).
			Field("byid", connect.NewMap(connect.Int32Schema, allInner).Optional().Build()).
			Field("last", connect.StringSchema).
			Build()
)

var allBase = time.Date(2025, 7, 14, 13, 45, 30, 123_456_789, time.UTC)

func allInnerValue(i int) *connect.Struct {
	v := connect.NewStructValue(allInner).Set("x", int32(i))
	if i%2 == 0 {
		v.Set("label", "L"+itoa(i))
	}
	return v
}

// allTypesValue is row i of allTypesSchema; nulls, empty collections and
// both Go representations of temporal types rotate with i.
func allTypesValue(i int) *connect.Struct {
	v := connect.NewStructValue(allTypesSchema)
	neg := 1
	if i%2 == 1 {
		neg = -1
	}
	unscaled := big.NewInt(int64(neg * (i*1234 + 5)))
	if i%7 == 3 { // beyond int64
		unscaled = new(big.Int).Mul(big.NewInt(int64(neg)*987654321987), big.NewInt(1_000_000_007))
	}
	v.Set("i8", int8(i%256-128)).Set("i16", int16(i*37-5000)).Set("i32", int32(i*100_003*neg)).
		Set("i64", int64(i)*-9_000_000_000_001).Set("f32", float32(i)*0.25).Set("f64", float64(i)*-1.125).
		Set("b", i%3 == 1).Set("s", "row-"+itoa(i)).Set("raw", []byte{byte(i), 0, byte(255 - i%256)}).
		Set("dec", connect.Decimal{Unscaled: unscaled, Scale: 2}).
		Set("dbzdate", int32(20000+i)).Set("dbztime", int32(i*1001)).
		Set("dbzmicrotime", int64(i)*1_000_003).Set("dbzts", allBase.UnixMilli()+int64(i)).
		Set("dbznanots", allBase.UnixNano()+int64(i)).Set("last", "end"+itoa(i))
	ts := allBase.Add(time.Duration(i) * time.Minute)
	if i%2 == 0 { // time.Time representations
		v.Set("date", ts).Set("time", ts).Set("ts", ts)
	} else { // integer representations
		v.Set("date", connect.DaysSinceEpoch(ts)).Set("time", connect.MillisOfDay(ts)).Set("ts", ts.UnixMilli())
	}
	v.Set("ints", []any{})
	if i%4 != 0 {
		ints := make([]any, i%5)
		for k := range ints {
			ints[k] = int32(i*10 + k)
		}
		v.Set("ints", ints)
	}
	if i%3 != 0 {
		v.Set("oi8", int8(-i%100)).Set("oi16", int16(i)).Set("oi32", int32(-i)).Set("oi64", int64(i)<<40).
			Set("of32", float32(i)/3).Set("of64", float64(i)/7).Set("ob", i%2 == 0).Set("os", "opt-"+itoa(i)).
			Set("oraw", []byte("b"+itoa(i))).Set("dflt", int32(i)).
			Set("odate", connect.DateFromDays(int32(18000+i))).Set("ots", ts.Add(time.Hour)).
			Set("dbznanotime", int64(i)*999_999_937)
		switch i % 4 {
		case 0: // scale 4 as given
			v.Set("odec", connect.Decimal{Unscaled: big.NewInt(int64(i) * 10007), Scale: 4})
		case 1: // scale 1: rescaled up
			v.Set("odec", connect.Decimal{Unscaled: big.NewInt(int64(-i) * 3), Scale: 1})
		default: // scale 6 with zero extra digits: rescaled down
			v.Set("odec", connect.Decimal{Unscaled: big.NewInt(int64(i) * 1_000_000), Scale: 6})
		}
		if i%2 == 0 {
			v.Set("dbzmicrots", allBase.UnixMicro()+int64(i))
		} else {
			v.Set("dbzmicrots", ts) // time.Time form
		}
	}
	switch i % 5 {
	case 0: // null nested struct
	case 1:
		v.Set("nested", connect.NewStructValue(allNested).Set("n", int64(i)))
	default:
		n := connect.NewStructValue(allNested).Set("inner", allInnerValue(i))
		if i%5 == 2 {
			n.Set("tags", []any{"a" + itoa(i), "b"})
		} else {
			n.Set("tags", []any{})
		}
		v.Set("nested", n)
	}
	switch i % 6 {
	case 1:
		v.Set("ostrs", []any{"x", nil, "z" + itoa(i)})
		v.Set("structs", []any{allInnerValue(i), allInnerValue(i + 1)})
		v.Set("matrix", []any{[]any{int64(1), int64(i)}, []any{}, []any{int64(-i)}})
		v.Set("attrs", map[any]any{"k" + itoa(i): int64(i), "a": nil, "zz": int64(-1)})
		v.Set("byid", map[any]any{int32(i): allInnerValue(i), int32(-i - 1): allInnerValue(i + 1)})
	case 2:
		v.Set("ostrs", []any{}).Set("structs", []any{}).Set("matrix", []any{}).
			Set("attrs", map[any]any{}).Set("byid", map[any]any{})
	case 3:
		v.Set("ostrs", []any{nil}).Set("structs", []any{allInnerValue(i)}).Set("matrix", []any{[]any{int64(7)}}).
			Set("attrs", map[any]any{"only": int64(i)})
	}
	return v
}

// Go mirrors of allTypesSchema, for reading files back with parquet-go's
// typed reader.
type allGoInner struct {
	X     int32   `parquet:"x"`
	Label *string `parquet:"label,optional"`
}

type allGoNested struct {
	N     *int64      `parquet:"n,optional"`
	Inner *allGoInner `parquet:"inner,optional"`
	Tags  []string    `parquet:"tags,optional,list"`
}

type allGoRow struct {
	I8           int8                  `parquet:"i8"`
	I16          int16                 `parquet:"i16"`
	I32          int32                 `parquet:"i32"`
	I64          int64                 `parquet:"i64"`
	F32          float32               `parquet:"f32"`
	F64          float64               `parquet:"f64"`
	B            bool                  `parquet:"b"`
	S            string                `parquet:"s"`
	Raw          []byte                `parquet:"raw"`
	OI8          *int8                 `parquet:"oi8,optional"`
	OI16         *int16                `parquet:"oi16,optional"`
	OI32         *int32                `parquet:"oi32,optional"`
	OI64         *int64                `parquet:"oi64,optional"`
	OF32         *float32              `parquet:"of32,optional"`
	OF64         *float64              `parquet:"of64,optional"`
	OB           *bool                 `parquet:"ob,optional"`
	OS           *string               `parquet:"os,optional"`
	ORaw         []byte                `parquet:"oraw,optional"`
	Dflt         *int32                `parquet:"dflt,optional"`
	Dec          []byte                `parquet:"dec"`
	ODec         []byte                `parquet:"odec,optional"`
	Date         int32                 `parquet:"date"`
	ODate        *int32                `parquet:"odate,optional"`
	Time         int32                 `parquet:"time"`
	TS           int64                 `parquet:"ts"`
	OTS          *int64                `parquet:"ots,optional"`
	DbzDate      int32                 `parquet:"dbzdate"`
	DbzTime      int32                 `parquet:"dbztime"`
	DbzMicroTime int64                 `parquet:"dbzmicrotime"`
	DbzNanoTime  *int64                `parquet:"dbznanotime,optional"`
	DbzTS        int64                 `parquet:"dbzts"`
	DbzMicroTS   *int64                `parquet:"dbzmicrots,optional"`
	DbzNanoTS    int64                 `parquet:"dbznanots"`
	Nested       *allGoNested          `parquet:"nested,optional"`
	Ints         []int32               `parquet:"ints,list"`
	OStrs        []*string             `parquet:"ostrs,optional,list"`
	Structs      []allGoInner          `parquet:"structs,optional,list"`
	Matrix       [][]int64             `parquet:"matrix,optional,list"`
	Attrs        map[string]*int64     `parquet:"attrs,optional"`
	ByID         map[int32]*allGoInner `parquet:"byid,optional"`
	Last         string                `parquet:"last"`
}

// nestedSchema has nested structs but no arrays or maps (the shredder's
// fixed-slot path), with optional and required groups and defaults.
var (
	nestedLeaf = connect.NewStruct().Name("leaf").
			Field("v", connect.Int64Schema).
			Field("note", connect.OptionalStringSchema).
			Build()
	nestedMid = connect.NewStruct().Name("mid").Optional().
			Field("leaf", nestedLeaf).
			Field("oleaf", connect.NewStruct().Name("oleaf").Optional().Field("d", connect.DecimalSchema(3).Build()).Build()).
			Field("flag", connect.NewSchema(connect.Boolean).Optional().Default(true).Build()).
			Build()
	nestedSchema = connect.NewStruct().Name("nested.Value").
			Field("id", connect.Int32Schema).
			Field("mid", nestedMid).
			Field("req", connect.NewStruct().Name("req").Field("ts", connect.TimestampSchema().Build()).Field("b", connect.OptionalBytesSchema).Build()).
			Field("tail", connect.OptionalFloat64Schema).
			Build()
)

func nestedValue(i int) *connect.Struct {
	v := connect.NewStructValue(nestedSchema).Set("id", int32(i)).
		Set("req", connect.NewStructValue(nestedSchema.Field("req").Schema).Set("ts", allBase.Add(time.Duration(i)*time.Second)))
	if i%4 != 0 {
		leaf := connect.NewStructValue(nestedLeaf).Set("v", int64(-i))
		if i%3 == 0 {
			leaf.Set("note", "n"+itoa(i))
		}
		mid := connect.NewStructValue(nestedMid).Set("leaf", leaf)
		if i%2 == 0 {
			mid.Set("oleaf", connect.NewStructValue(nestedMid.Field("oleaf").Schema).Set("d", connect.Decimal{Unscaled: big.NewInt(int64(i) * 77), Scale: 3}))
			mid.Set("flag", false)
		}
		v.Set("mid", mid)
	}
	if i%5 == 1 {
		v.Set("tail", float64(i)/4)
		v.Get("req").(*connect.Struct).Set("b", []byte{byte(i)})
	}
	return v
}
