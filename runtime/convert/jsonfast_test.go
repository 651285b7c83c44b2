package convert

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// envelopeFor returns a compact envelope with the job_offer schema of
// debeziumInsertJSON and the given payload text.
func envelopeFor(t testing.TB, payload string) []byte {
	t.Helper()
	c := compact(t, debeziumInsertJSON)
	i := strings.Index(c, `,"payload":`)
	return []byte(c[:i] + `,"payload":` + payload + `}`)
}

const basePayload = `{"before":null,"after":{"id":8,"description":"Peppino","duration":123,"status":"Created","customer_id":10,"professional_id":null},` +
	`"source":{"version":"3.0.1.Final","connector":"postgresql","name":"dbserver1","ts_ms":1732743221947,"snapshot":"false","db":"crm","sequence":"[null,\"36432176\"]",` +
	`"ts_us":1732743221947789,"ts_ns":1732743221947789000,"schema":"public","table":"job_offer","txId":933,"lsn":36432176,"xmin":null},` +
	`"transaction":null,"op":"c","ts_ms":1732743222108,"ts_us":1732743222108815,"ts_ns":1732743222108815622}`

// sameAsGeneral fails unless the fast path and the general path give the
// same schema, value and error for data; it reports whether the fast path
// decided (true) or handed over to the general path.
func sameAsGeneral(t *testing.T, j *JSON, data []byte) bool {
	t.Helper()
	ws, wv, werr := j.toConnect(data, false)
	gs, gv, gerr := j.toConnect(data, true)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("error: fast path %v, general path %v\ninput %s", gerr, werr, data)
	}
	if !reflect.DeepEqual(ws, gs) || !reflect.DeepEqual(wv, gv) {
		t.Fatalf("value: fast path\n%#v\ngeneral path\n%#v\ninput %s", gv, wv, data)
	}
	_, _, fast := j.fastEnvelope(data)
	return fast
}

func TestJSONFastPathMatchesGeneralPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string // replaces basePayload; "" keeps it
		edit    func(string) string
		fast    bool // the fast path decides (no hand-over)
	}{
		{name: "debezium insert", fast: true},
		{name: "whitespace in payload", edit: func(p string) string { return strings.ReplaceAll(p, `,"`, " ,\n\t\"") }, fast: true},
		{name: "members out of order", edit: func(p string) string {
			return strings.Replace(p, `{"id":8,"description":"Peppino"`, `{"description":"Peppino","id":8`, 1)
		}, fast: true},
		{name: "duplicate member, last wins", edit: func(p string) string {
			return strings.Replace(p, `"status":"Created"`, `"status":"Created","status":"Done"`, 1)
		}, fast: true},
		{name: "duplicate member, first invalid", edit: func(p string) string {
			return strings.Replace(p, `"status":"Created"`, `"status":5,"status":"Done"`, 1)
		}},
		{name: "duplicate member, last invalid", edit: func(p string) string {
			return strings.Replace(p, `"status":"Created"`, `"status":"Done","status":5`, 1)
		}},
		{name: "unknown member", edit: func(p string) string { return strings.Replace(p, `"op":"c"`, `"op":"c","extra":[1,{"a":"b"}]`, 1) }, fast: true},
		{name: "unknown member with bad escape", edit: func(p string) string { return strings.Replace(p, `"op":"c"`, `"op":"c","extra":"\q"`, 1) }},
		{name: "missing optional field", edit: func(p string) string { return strings.Replace(p, `,"xmin":null`, ``, 1) }, fast: true},
		{name: "missing field with default", edit: func(p string) string { return strings.Replace(p, `"id":8,`, ``, 1) }, fast: true},
		{name: "missing required field", edit: func(p string) string { return strings.Replace(p, `"duration":123,`, ``, 1) }},
		{name: "null for required field", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":null`, 1) }},
		{name: "null for field with default", edit: func(p string) string { return strings.Replace(p, `"id":8`, `"id":null`, 1) }, fast: true},
		{name: "integral float", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":123.0`, 1) }, fast: true},
		{name: "exponent", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":1e3`, 1) }, fast: true},
		{name: "fraction", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":1.5`, 1) }},
		{name: "leading zero", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":0123`, 1) }},
		{name: "negative zero", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":-0`, 1) }, fast: true},
		{name: "max int64", edit: func(p string) string {
			return strings.Replace(p, `"duration":123`, `"duration":9223372036854775807`, 1)
		}, fast: true},
		{name: "min int64", edit: func(p string) string {
			return strings.Replace(p, `"duration":123`, `"duration":-9223372036854775808`, 1)
		}, fast: true},
		{name: "int64 overflow", edit: func(p string) string {
			return strings.Replace(p, `"duration":123`, `"duration":9223372036854775808`, 1)
		}},
		{name: "20 digits", edit: func(p string) string {
			return strings.Replace(p, `"duration":123`, `"duration":12345678901234567890`, 1)
		}},
		{name: "string for int", edit: func(p string) string { return strings.Replace(p, `"duration":123`, `"duration":"123"`, 1) }},
		{name: "number for string", edit: func(p string) string { return strings.Replace(p, `"status":"Created"`, `"status":7`, 1) }},
		{name: "escapes in string", edit: func(p string) string { return strings.Replace(p, `"Peppino"`, `"Pep\"pi\u00f1o\n\ud83d\ude00"`, 1) }, fast: true},
		{name: "invalid UTF-8 in string", edit: func(p string) string { return strings.Replace(p, `"Peppino"`, "\"Pep\xffpino\"", 1) }, fast: true},
		{name: "escaped member name", edit: func(p string) string { return strings.Replace(p, `"description"`, `"descr\u0069ption"`, 1) }},
		{name: "non-ASCII member name", edit: func(p string) string { return strings.Replace(p, `"op":"c"`, `"op":"c","é":1`, 1) }, fast: true},
		{name: "struct for string", edit: func(p string) string { return strings.Replace(p, `"op":"c"`, `"op":{}`, 1) }},
		{name: "array for struct", edit: func(p string) string { return strings.Replace(p, `"before":null`, `"before":[]`, 1) }},
		{name: "empty struct object", edit: func(p string) string { return strings.Replace(p, `"transaction":null`, `"transaction":{}`, 1) }},
		{name: "bad literal", edit: func(p string) string { return strings.Replace(p, `"before":null`, `"before":nul`, 1) }},
		{name: "truncated", edit: func(p string) string { return p[:len(p)-20] }},
		{name: "missing comma", edit: func(p string) string { return strings.Replace(p, `,"op"`, ` "op"`, 1) }},
		{name: "trailing comma", edit: func(p string) string { return strings.Replace(p, `"xmin":null}`, `"xmin":null,}`, 1) }},
		{name: "null payload", payload: `null`},
		{name: "payload not an object", payload: `[1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePayload
			if tc.payload != "" {
				p = tc.payload
			}
			if tc.edit != nil {
				p = tc.edit(p)
			}
			j := mustJSON(t, nil)
			// The first read parses the schema and remembers it.
			if _, _, err := j.ToConnect("t", envelopeFor(t, basePayload)); err != nil {
				t.Fatal(err)
			}
			if fast := sameAsGeneral(t, j, envelopeFor(t, p)); fast != tc.fast {
				t.Errorf("fast path decided: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestJSONFastPathEnvelope covers the envelope around the payload: only
// FromConnect's compact form takes the fast path; everything else (spaces,
// other member order, extra members, trailing bytes) is the general path's,
// with the same result.
func TestJSONFastPathEnvelope(t *testing.T) {
	good := string(envelopeFor(t, basePayload))
	schema := good[len(`{"schema":`):strings.Index(good, `,"payload":`)]
	for _, tc := range []struct {
		name, data string
		fast       bool
	}{
		{"compact", good, true},
		{"trailing space", good + " \n", true},
		{"trailing garbage", good + "x", false},
		{"space before schema", `{ "schema":` + schema + `,"payload":` + basePayload + `}`, false},
		{"payload first", `{"payload":` + basePayload + `,"schema":` + schema + `}`, false},
		{"extra member", `{"schema":` + schema + `,"payload":` + basePayload + `,"x":1}`, false},
		{"schema prefix of a longer value", `{"schema":` + schema + `x,"payload":` + basePayload + `}`, false},
		// Read once by the general path, a new schema is remembered too.
		{"other schema", `{"schema":{"type":"int32","optional":false},"payload":5}`, true},
		{"null schema", `{"schema":null,"payload":{"a":1}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := mustJSON(t, nil)
			if _, _, err := j.ToConnect("t", []byte(good)); err != nil {
				t.Fatal(err)
			}
			if fast := sameAsGeneral(t, j, []byte(tc.data)); fast != tc.fast {
				t.Errorf("fast path decided: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestJSONFastPathRoundTrip reads what FromConnect writes for the logical
// types and the Debezium event through both paths.
func TestJSONFastPathRoundTrip(t *testing.T) {
	_, row, source, _, env := debeziumJobOffer()
	j := mustJSON(t, nil)
	out, err := j.FromConnect("t", env, debeziumInsertValue(row, source, env))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := j.ToConnect("t", out); err != nil { // parses and remembers the schema
		t.Fatal(err)
	}
	if !sameAsGeneral(t, j, out) {
		t.Fatal("FromConnect's own output did not take the fast path")
	}
}

// TestJSONRecentSchemasBounded checks that the prefix list keeps at most
// recentSchemaCap schemas and that each of many schemas still reads right.
func TestJSONRecentSchemasBounded(t *testing.T) {
	j := mustJSON(t, nil)
	for round := range 2 {
		for i := range 3 * recentSchemaCap {
			data := []byte(fmt.Sprintf(`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"f%d"}],"optional":false},"payload":{"f%d":%d}}`, i, i, round))
			s, v, err := j.ToConnect("t", data)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(interface{ Get(string) any }).Get(s.Fields[0].Name); got != int32(round) {
				t.Fatalf("schema %d round %d: got %v", i, round, got)
			}
			sameAsGeneral(t, j, data)
		}
	}
	if n := len(*j.recent.list.Load()); n != recentSchemaCap {
		t.Fatalf("%d recent schemas, want %d", n, recentSchemaCap)
	}
}

// FuzzJSONFastPath checks that for any payload text the fast path returns
// what the general path returns.
func FuzzJSONFastPath(f *testing.F) {
	f.Add(basePayload)
	f.Add(`{"before":{"id":1,"duration":2},"after":null,"source":{},"op":"d"}`)
	f.Add(`{"after":{"id":-0,"duration":1e2,"status":"\u00e9"},"op":"u","op":"c"}`)
	f.Fuzz(func(t *testing.T, payload string) {
		j := mustJSON(t, nil)
		if _, _, err := j.ToConnect("t", envelopeFor(t, basePayload)); err != nil {
			t.Fatal(err)
		}
		sameAsGeneral(t, j, envelopeFor(t, payload))
	})
}

// TestJSONFastPathOwnsItsValues: the fast path's strings share a private
// copy of the payload, never the caller's buffer, which the worker reuses
// for the next fetch (kgo.Record.Recycle).
func TestJSONFastPathOwnsItsValues(t *testing.T) {
	j := mustJSON(t, nil)
	data := envelopeFor(t, basePayload)
	if !sameAsGeneral(t, j, data) {
		t.Fatal("the fast path did not decide the Debezium insert")
	}
	_, want, err := j.ToConnect("t", data)
	if err != nil {
		t.Fatal(err)
	}
	wantText := fmt.Sprint(want)
	_, got, err := j.ToConnect("t", data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if s := fmt.Sprint(got); s != wantText {
		t.Fatalf("value changed with the input buffer:\n%s\nwant\n%s", s, wantText)
	}
}

// TestJSONFastPathRepeatedStrings: the remembered last value of a string
// field is returned only for exactly its text; longer, shorter, escaped
// and differing values decode as the general path decodes them, in any
// order, once remembering stopped too.
func TestJSONFastPathRepeatedStrings(t *testing.T) {
	j := mustJSON(t, nil)
	statuses := []string{`"Created"`, `"Created"`, `"Created2"`, `"Create"`, `"Cr\u0065ated"`, `"Created"`, `""`, `""`,
		`"Cre\"ated"`, `"Created"`, `"\u00e9t\u00e9"`, `"été"`, `"été"`, "\"\xff\"", "\"\xff\"", `"Created"`}
	for round := range 3 {
		for i, st := range statuses {
			// Later rounds: every record differs first, so remembering stops.
			if round > 0 {
				st = `"v` + strconv.Itoa(round*100+i) + `"`
				if i%5 == 0 {
					st = statuses[i]
				}
			}
			data := envelopeFor(t, strings.Replace(basePayload, `"Created"`, st, 1))
			if !sameAsGeneral(t, j, data) {
				t.Fatalf("round %d, status %s: the fast path did not decide", round, st)
			}
		}
	}
}

// TestJSONFastPathDecimals: Decimal fields written as base64 strings decode
// as the general path decodes them, including what only the general path
// handles (escapes, unpadded base64) and what it rejects.
func TestJSONFastPathDecimals(t *testing.T) {
	j := mustJSON(t, nil)
	schema := `{"type":"struct","fields":[{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,` +
		`"parameters":{"scale":"2"},"field":"amount"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal",` +
		`"version":1,"parameters":{"scale":"0"},"field":"bad"}],"optional":false,"name":"t"}`
	long := strings.Repeat("AQID", 30)
	for _, amount := range []string{`"AA=="`, `"MDk="`, `"/w=="`, `"gAAAAAAAAAAA"`, `"AQ"`, `"\u0041Q=="`, "\"AQ\n==\"", `""`,
		`"!!"`, `"AQ=="`, `"` + long + `"`, `"` + long[:88] + `"`, `12.34`, `null`, `"AQ==`, `"MDk=\"`} {
		for _, bad := range []string{`null`, `"AQ=="`} {
			data := []byte(`{"schema":` + schema + `,"payload":{"amount":` + amount + `,"bad":` + bad + `}}`)
			sameAsGeneral(t, j, data)
		}
	}
	data := []byte(`{"schema":` + schema + `,"payload":{"amount":"MDk=","bad":null}}`)
	if !sameAsGeneral(t, j, data) {
		t.Fatal("the fast path did not decide a base64 Decimal")
	}
	_, v, err := j.ToConnect("t", data)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := v.(*connect.Struct).At(0).(connect.Decimal); !ok || d.String() != "123.45" {
		t.Fatalf("amount = %#v, want 123.45", v.(*connect.Struct).At(0))
	}
}
