package mysql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/sluicehq/sluice/runtime/connect"
)

// table is a captured table with the schemas of its events.
type table struct {
	db, name    string
	cols        []column // every column, in table order
	incl        []int    // columns in the value schema (column filters)
	key         []int    // key columns (primary key or message.key.columns)
	keyInValue  []int    // per key column, its field index in value (-1 if filtered out)
	pk          []int    // primary key columns
	topic       string
	value       *connect.Schema
	keySchema   *connect.Schema
	envelope    *connect.Schema
	fingerprint string
	// dbBox and nameBox are db and name as interface values, boxed once.
	dbBox, nameBox any
	// signal marks signal.data.collection; uncaptured a signal table
	// whose own changes are not emitted.
	signal, uncaptured bool
}

func (tb *table) id() string { return tb.db + "." + tb.name }

// newTable builds the schemas of a table from its columns; pk holds the
// primary key's column indexes in key order.
func newTable(o *options, db, name string, cols []column, pk []int) (*table, error) {
	tb := &table{db: db, name: name, cols: cols, pk: pk, topic: o.prefix + "." + db + "." + name, dbBox: db, nameBox: name}
	vb := connect.NewStruct().Name(tb.topic + ".Value").Optional()
	for i := range cols {
		if !o.columnIncluded(db, name, cols[i].name) {
			continue
		}
		tb.incl = append(tb.incl, i)
		vb.Field(cols[i].name, cols[i].schema(o))
	}
	tb.value = vb.Build()
	key := pk
	if names := o.keyColumnsFor(db, name); names != nil {
		key = nil
		for _, n := range names {
			idx := -1
			for i := range cols {
				if strings.EqualFold(cols[i].name, n) {
					idx = i
				}
			}
			if idx < 0 {
				return nil, connect.Errorf(KeyMessageKeyColumns, "table %s.%s has no column %q", db, name, n)
			}
			key = append(key, idx)
		}
	}
	if len(key) > 0 {
		kb := connect.NewStruct().Name(tb.topic + ".Key")
		for _, i := range key {
			kb.Field(cols[i].name, cols[i].schema(o))
		}
		tb.keySchema = kb.Build()
		tb.key = key
		for _, i := range key {
			at := -1
			for j, vi := range tb.incl {
				if vi == i {
					at = j
				}
			}
			tb.keyInValue = append(tb.keyInValue, at)
		}
	}
	tb.envelope = envelopeSchema(o, tb.topic, tb.value)
	return tb, nil
}

// row converts one decoded row (normalized values, all columns) to the
// key and value structs.
func (tb *table) row(o *options, vals []any) (key, value *connect.Struct, err error) {
	value = connect.NewStructValue(tb.value)
	for j, i := range tb.incl {
		v, err := tb.cols[i].value(o, vals[i])
		if err != nil {
			return nil, nil, fmt.Errorf("mysql: %s column %s (%s): %w", tb.id(), tb.cols[i].name, tb.cols[i].typeName(), err)
		}
		value.SetAt(j, v)
	}
	if tb.keySchema != nil {
		key = connect.NewStructValue(tb.keySchema)
		for j, i := range tb.key {
			v, err := tb.cols[i].value(o, vals[i])
			if err != nil {
				return nil, nil, fmt.Errorf("mysql: %s key column %s: %w", tb.id(), tb.cols[i].name, err)
			}
			key.SetAt(j, v)
		}
	}
	return key, value, nil
}

// binlogRow converts one go-mysql row image (all columns, as decoded) to
// the key and value structs; key fields reuse the value's converted values.
func (tb *table) binlogRow(o *options, raw []any) (key, value *connect.Struct, err error) {
	value = connect.NewStructValue(tb.value)
	for j, i := range tb.incl {
		var in any
		if i < len(raw) {
			in = raw[i]
		}
		v, err := tb.cols[i].binlogValue(o, in)
		if err != nil {
			return nil, nil, fmt.Errorf("mysql: %s column %s (%s): %w", tb.id(), tb.cols[i].name, tb.cols[i].typeName(), err)
		}
		value.SetAt(j, v)
	}
	if tb.keySchema != nil {
		key = connect.NewStructValue(tb.keySchema)
		for j, i := range tb.key {
			if at := tb.keyInValue[j]; at >= 0 {
				key.SetAt(j, value.At(at))
				continue
			}
			var in any
			if i < len(raw) {
				in = raw[i]
			}
			v, err := tb.cols[i].binlogValue(o, in)
			if err != nil {
				return nil, nil, fmt.Errorf("mysql: %s key column %s: %w", tb.id(), tb.cols[i].name, err)
			}
			key.SetAt(j, v)
		}
	}
	return key, value, nil
}

// ErrNoRowMetadata is returned for a TABLE_MAP event without column names:
// the binlog was written without binlog_row_metadata=FULL.
var ErrNoRowMetadata = errors.New("mysql: binlog TABLE_MAP event carries no column names; binlog_row_metadata=FULL is required (events written before it was enabled cannot be decoded safely)")

// columnsFromTableMap describes a table from a TABLE_MAP event carrying
// full row metadata.
func columnsFromTableMap(e *replication.TableMapEvent) ([]column, []int, error) {
	names := e.ColumnNameString()
	if len(names) != int(e.ColumnCount) {
		return nil, nil, fmt.Errorf("%w: table %s.%s", ErrNoRowMetadata, e.Schema, e.Table)
	}
	unsigned := e.UnsignedMap()
	coll := e.CollationMap()
	enums := e.EnumStrValueMap()
	sets := e.SetStrValueMap()
	geo := e.GeometryTypeMap()
	cols := make([]column, e.ColumnCount)
	for i := range cols {
		c := column{name: names[i], unsigned: unsigned[i]}
		_, c.nullable = e.Nullable(i)
		meta := e.ColumnMeta[i]
		switch t := e.ColumnType[i]; t {
		case gmysql.MYSQL_TYPE_TINY:
			c.kind = kTiny
		case gmysql.MYSQL_TYPE_SHORT:
			c.kind = kSmall
		case gmysql.MYSQL_TYPE_INT24:
			c.kind = kMedium
		case gmysql.MYSQL_TYPE_LONG:
			c.kind = kInt
		case gmysql.MYSQL_TYPE_LONGLONG:
			c.kind = kBig
		case gmysql.MYSQL_TYPE_FLOAT:
			c.kind = kFloat
		case gmysql.MYSQL_TYPE_DOUBLE:
			c.kind = kDouble
		case gmysql.MYSQL_TYPE_NEWDECIMAL:
			c.kind, c.prec, c.scale = kDecimal, int(meta>>8), int(meta&0xff)
		case gmysql.MYSQL_TYPE_BIT:
			c.kind, c.bits = kBit, int(meta>>8)*8+int(meta&0xff)
		case gmysql.MYSQL_TYPE_DATE, gmysql.MYSQL_TYPE_NEWDATE:
			c.kind = kDate
		case gmysql.MYSQL_TYPE_TIME, gmysql.MYSQL_TYPE_TIME2:
			c.kind, c.fsp = kTime, int(meta)
		case gmysql.MYSQL_TYPE_DATETIME, gmysql.MYSQL_TYPE_DATETIME2:
			c.kind, c.fsp = kDatetime, int(meta)
		case gmysql.MYSQL_TYPE_TIMESTAMP, gmysql.MYSQL_TYPE_TIMESTAMP2:
			c.kind, c.fsp = kTimestamp, int(meta)
		case gmysql.MYSQL_TYPE_YEAR:
			c.kind = kYear
		case gmysql.MYSQL_TYPE_JSON:
			c.kind = kJSON
		case gmysql.MYSQL_TYPE_GEOMETRY:
			c.kind = kGeometry
			if geo[i] == 1 {
				c.kind = kPoint
			}
		case gmysql.MYSQL_TYPE_STRING, gmysql.MYSQL_TYPE_VARCHAR, gmysql.MYSQL_TYPE_VAR_STRING, gmysql.MYSQL_TYPE_BLOB:
			switch {
			case e.IsEnumColumn(i):
				c.kind, c.values = kEnum, enums[i]
			case e.IsSetColumn(i):
				c.kind, c.values = kSet, sets[i]
			case coll[i] == 63: // binary collation: BINARY, VARBINARY, BLOB
				c.kind = kBinary
			default:
				c.kind = kText
				c.latin1 = latin1Collation(coll[i])
			}
		default:
			return nil, nil, fmt.Errorf("mysql: table %s.%s column %s has binlog type %d, which is not supported", e.Schema, e.Table, names[i], t)
		}
		cols[i] = c
	}
	pk := make([]int, 0, len(e.PrimaryKey))
	for _, p := range e.PrimaryKey {
		pk = append(pk, int(p))
	}
	return cols, pk, nil
}

// tableMapFingerprint identifies a table layout, to rebuild schemas only
// when a TABLE_MAP event describes a different table.
func tableMapFingerprint(e *replication.TableMapEvent) string {
	var b strings.Builder
	b.Write(e.Schema)
	b.WriteByte(0)
	b.Write(e.Table)
	b.WriteByte(0)
	b.Write(e.ColumnType)
	for _, m := range e.ColumnMeta {
		b.WriteString(strconv.Itoa(int(m)))
		b.WriteByte(',')
	}
	b.Write(e.NullBitmap)
	b.Write(e.SignednessBitmap)
	for _, n := range e.ColumnName {
		b.Write(n)
		b.WriteByte(0)
	}
	for _, p := range e.PrimaryKey {
		b.WriteString(strconv.Itoa(int(p)))
		b.WriteByte(',')
	}
	for _, vs := range e.EnumStrValue {
		for _, v := range vs {
			b.Write(v)
			b.WriteByte(1)
		}
	}
	for _, vs := range e.SetStrValue {
		for _, v := range vs {
			b.Write(v)
			b.WriteByte(1)
		}
	}
	for _, c := range e.ColumnCharset {
		b.WriteString(strconv.FormatUint(c, 10))
	}
	for _, c := range e.DefaultCharset {
		b.WriteString(strconv.FormatUint(c, 10))
	}
	for _, g := range e.GeometryType {
		b.WriteString(strconv.FormatUint(g, 10))
	}
	return b.String()
}

// normalizeBinlog maps a go-mysql row value to the form column.value
// expects: unsigned integers are reinterpreted (go-mysql decodes them
// signed), ENUM/SET indexes become labels.
func normalizeBinlog(c *column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.kind {
	case kTiny, kSmall, kMedium, kInt, kBig, kYear:
		var n int64
		switch x := v.(type) {
		case int8:
			n = int64(x)
			if c.unsigned {
				return uint64(uint8(x)), nil
			}
		case int16:
			n = int64(x)
			if c.unsigned {
				return uint64(uint16(x)), nil
			}
		case int32:
			n = int64(x)
			if c.unsigned {
				if c.kind == kMedium {
					return uint64(uint32(x) & 0xffffff), nil
				}
				return uint64(uint32(x)), nil
			}
		case int64:
			n = x
			if c.unsigned {
				return uint64(x), nil
			}
		case int:
			n = int64(x)
		default:
			return nil, fmt.Errorf("column %s: unexpected binlog value %T", c.name, v)
		}
		return n, nil
	case kBit:
		switch x := v.(type) {
		case int64:
			return uint64(x), nil
		}
	case kEnum:
		idx, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("column %s: unexpected ENUM value %T", c.name, v)
		}
		if idx <= 0 || int(idx) > len(c.values) {
			return "", nil // the empty "error" value
		}
		return c.values[idx-1], nil
	case kSet:
		mask, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("column %s: unexpected SET value %T", c.name, v)
		}
		var labels []string
		for i := range c.values {
			if uint64(mask)&(1<<uint(i)) != 0 {
				labels = append(labels, c.values[i])
			}
		}
		return strings.Join(labels, ","), nil
	case kJSON:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return x, nil
		default:
			return nil, fmt.Errorf("column %s: JSON value %T (partial JSON updates, binlog_row_value_options=PARTIAL_JSON, are not supported)", c.name, v)
		}
	}
	return v, nil
}

// normalizeText maps a text-protocol snapshot value.
func normalizeText(c *column, fv *gmysql.FieldValue) (any, error) {
	switch fv.Type {
	case gmysql.FieldValueTypeNull:
		return nil, nil
	case gmysql.FieldValueTypeUnsigned:
		if c.kind == kYear {
			return int64(fv.AsUint64()), nil
		}
		return fv.AsUint64(), nil
	case gmysql.FieldValueTypeSigned:
		if c.unsigned {
			return uint64(fv.AsInt64()), nil
		}
		return fv.AsInt64(), nil
	case gmysql.FieldValueTypeFloat:
		return fv.AsFloat64(), nil
	}
	b := fv.AsString()
	switch c.kind {
	case kTiny, kSmall, kMedium, kInt, kBig, kYear:
		if c.unsigned {
			return strconv.ParseUint(string(b), 10, 64)
		}
		return strconv.ParseInt(string(b), 10, 64)
	case kFloat, kDouble:
		return strconv.ParseFloat(string(b), 64)
	case kBit:
		var u uint64
		for _, x := range b {
			u = u<<8 | uint64(x)
		}
		return u, nil
	case kDecimal, kDate, kTime, kDatetime, kTimestamp, kEnum, kSet:
		return string(b), nil
	}
	return append([]byte(nil), b...), nil
}

// columnsFromInfoSchema describes a column from information_schema.COLUMNS
// (DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE,
// DATETIME_PRECISION).
func columnFromInfoSchema(name, dataType, columnType string, nullable bool, prec, scale, fsp int64) (column, error) {
	c := column{name: name, nullable: nullable, unsigned: strings.Contains(strings.ToLower(columnType), "unsigned")}
	switch strings.ToLower(dataType) {
	case "tinyint":
		c.kind = kTiny
	case "smallint":
		c.kind = kSmall
	case "mediumint":
		c.kind = kMedium
	case "int", "integer":
		c.kind = kInt
	case "bigint":
		c.kind = kBig
	case "float":
		c.kind = kFloat
	case "double", "real":
		c.kind = kDouble
	case "decimal", "numeric":
		c.kind, c.prec, c.scale = kDecimal, int(prec), int(scale)
	case "bit":
		c.kind, c.bits = kBit, int(prec)
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		c.kind = kText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		c.kind = kBinary
	case "date":
		c.kind = kDate
	case "time":
		c.kind, c.fsp = kTime, int(fsp)
	case "datetime":
		c.kind, c.fsp = kDatetime, int(fsp)
	case "timestamp":
		c.kind, c.fsp = kTimestamp, int(fsp)
	case "year":
		c.kind = kYear
	case "json":
		c.kind = kJSON
	case "enum", "set":
		c.kind = kEnum
		if strings.EqualFold(dataType, "set") {
			c.kind = kSet
		}
		vals, err := parseEnumValues(columnType)
		if err != nil {
			return c, fmt.Errorf("column %s: %w", name, err)
		}
		c.values = vals
	case "point":
		c.kind = kPoint
	case "geometry", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		c.kind = kGeometry
	default:
		return c, fmt.Errorf("column %s has type %s, which is not supported", name, dataType)
	}
	if c.kind == kBit && c.bits == 0 {
		c.bits = 1
	}
	return c, nil
}

// parseEnumValues reads the labels of "enum('a','b')" or "set(...)"; a
// doubled quote inside a label is one quote.
func parseEnumValues(ct string) ([]string, error) {
	i := strings.IndexByte(ct, '(')
	if i < 0 || !strings.HasSuffix(ct, ")") {
		return nil, fmt.Errorf("cannot parse %q", ct)
	}
	s := ct[i+1 : len(ct)-1]
	var out []string
	for len(s) > 0 {
		if s[0] != '\'' {
			return nil, fmt.Errorf("cannot parse %q", ct)
		}
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j++
					continue
				}
				break
			}
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		out = append(out, b.String())
		s = strings.TrimPrefix(s[j+1:], ",")
	}
	return out, nil
}

// latin1Collation reports whether a collation id belongs to MySQL's latin1
// character set (which is Windows-1252).
func latin1Collation(id uint64) bool {
	switch id {
	case 5, 8, 15, 31, 47, 48, 49, 94:
		return true
	}
	return false
}
