package convert

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestSimpleHeader(t *testing.T) {
	h, err := NewHeaderConverter("", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s      *connect.Schema
		v      any
		text   string
		back   any
		schema connect.Type
	}{
		{connect.StringSchema, "abc", "abc", "abc", connect.String},
		{connect.BooleanSchema, true, "true", true, connect.Boolean},
		{connect.Int64Schema, int64(5), "5", int8(5), connect.Int8},
		{connect.Int32Schema, int32(70000), "70000", int32(70000), connect.Int32},
		{connect.Float64Schema, 1.5, "1.5", 1.5, connect.Float64},
		{connect.BytesSchema, []byte{1, 2}, "AQI=", "AQI=", connect.String},
		{connect.TimestampSchema().Build(), time.UnixMilli(1732743221947).UTC(), "2024-11-27T21:33:41.947Z", "2024-11-27T21:33:41.947Z", connect.String},
		{nil, map[string]any{"a": int64(1)}, `{"a":1}`, `{"a":1}`, connect.String},
	}
	for _, tt := range tests {
		b, err := h.FromConnectHeader("t", "k", tt.s, tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.text {
			t.Errorf("%v: wrote %q want %q", tt.v, b, tt.text)
		}
		s, v, err := h.ToConnectHeader("t", "k", b)
		if err != nil {
			t.Fatal(err)
		}
		if s.Type != tt.schema || !reflect.DeepEqual(v, tt.back) {
			t.Errorf("%q: read %v %#v want %v %#v", b, s, v, tt.schema, tt.back)
		}
	}
	jh, err := NewHeaderConverter("json", map[string]string{"schemas.enable": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := jh.FromConnectHeader("t", "k", nil, "x"); string(b) != `"x"` {
		t.Fatalf("json header %q", b)
	}
	if _, err := NewHeaderConverter("nope", nil); err == nil {
		t.Fatal("unknown class accepted")
	}
}
