package broker

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// encodeRequestFrame encodes req as a request frame body (without the
// size prefix), the way clients do.
func encodeRequestFrame(req kmsg.Request, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func seedRequests() []kmsg.Request {
	var out []kmsg.Request
	for _, a := range supportedAPIs() {
		for v := a.min; v <= a.max; v++ {
			r := kmsg.RequestForKey(a.key)
			r.SetVersion(v)
			switch req := r.(type) {
			case *kmsg.ProduceRequest:
				t := kmsg.NewProduceRequestTopic()
				t.Topic = "t"
				p := kmsg.NewProduceRequestTopicPartition()
				p.Records = mustBuildBatch([]simpleRecord{{timestamp: 1, key: []byte("k"), value: []byte("v")}})
				t.Partitions = append(t.Partitions, p)
				req.Topics = append(req.Topics, t)
				req.Acks = -1
			case *kmsg.FetchRequest:
				t := kmsg.NewFetchRequestTopic()
				t.Topic = "t"
				t.Partitions = append(t.Partitions, kmsg.NewFetchRequestTopicPartition())
				req.Topics = append(req.Topics, t)
			case *kmsg.MetadataRequest:
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr("t")
				req.Topics = append(req.Topics, t)
			case *kmsg.CreateTopicsRequest:
				t := kmsg.NewCreateTopicsRequestTopic()
				t.Topic = "t"
				req.Topics = append(req.Topics, t)
			}
			out = append(out, r)
		}
	}
	return out
}

// FuzzDecodeRequest feeds arbitrary frames to the request decoder; it
// must return an error or a request, never panic. The seed corpus (every
// supported API and version, encoded by kmsg) runs in a normal go test.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range seedRequests() {
		f.Add(encodeRequestFrame(r, "fuzz"))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := decodeRequest(frame)
		if err == nil && r == nil {
			t.Fatal("nil request without error")
		}
		if err == nil && r.msg != nil {
			// A decoded request must re-encode without panicking.
			_ = r.msg.AppendTo(nil)
		}
	})
}

// FuzzProduceRecords fuzzes the records-field path of Produce (framing,
// CRC, legacy conversion and decompression); it must never panic.
func FuzzProduceRecords(f *testing.F) {
	f.Add(mustBuildBatch([]simpleRecord{{timestamp: 5, key: []byte("a"), value: []byte("b")}}))
	legacy := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	f.Add(legacy)
	f.Fuzz(func(t *testing.T, records []byte) {
		entries, err := splitEntries(records)
		if err != nil || len(entries) == 0 {
			return
		}
		if entries[0][offMagic] < 2 {
			if b, err := convertMessageSet(entries); err == nil {
				if _, err := blog.CheckBatch(b); err != nil {
					t.Fatalf("converted batch invalid: %v", err)
				}
			}
			return
		}
		for _, e := range entries {
			if _, err := blog.CheckBatch(e); err == nil {
				_, _, _ = blog.DecodeRecords(e)
			}
		}
	})
}

func TestSeedRequestsDecode(t *testing.T) {
	for _, r := range seedRequests() {
		got, err := decodeRequest(encodeRequestFrame(r, "c"))
		if err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(r.Key()), r.GetVersion(), err)
		}
		if got.key != r.Key() || got.version != r.GetVersion() || got.clientID != "c" || got.corr != 7 {
			t.Fatalf("%s v%d: header decoded as %+v", kmsg.NameForKey(r.Key()), r.GetVersion(), got)
		}
	}
	// ApiVersions of an unknown version is answered, not closed.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 99
	got, err := decodeRequest(encodeRequestFrame(req, "c"))
	if err != nil || got.msg != nil {
		t.Fatalf("ApiVersions v99: %+v %v", got, err)
	}
}

func TestParseFlushPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FlushPolicy
		ok   bool
	}{
		{"durable", FlushPolicy{Mode: FlushDurable}, true},
		{"none", FlushPolicy{Mode: FlushNone}, true},
		{"interval:250ms", FlushPolicy{Mode: FlushInterval, Interval: 250e6}, true},
		{"interval:0s", FlushPolicy{}, false},
		{"interval:x", FlushPolicy{}, false},
		{"sometimes", FlushPolicy{}, false},
	} {
		got, err := ParseFlushPolicy(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseFlushPolicy(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func mustBuildBatch(recs []simpleRecord) []byte {
	b, err := buildBatch(recs)
	if err != nil {
		panic(err)
	}
	return b
}
