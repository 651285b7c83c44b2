package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/runtime/connect"
)

// offsetStore accumulates the offsets topic: key JSON
// ["<connector>",{partition}], value JSON {offset} (null = deleted).
type offsetStore struct {
	mu sync.Mutex
	// by connector, then canonical partition JSON
	m map[string]map[string]offsetEntry
}

type offsetEntry struct {
	partition map[string]any
	offset    map[string]any
}

func newOffsetStore() *offsetStore { return &offsetStore{m: map[string]map[string]offsetEntry{}} }

// offsetKey encodes a source partition key as Kafka Connect does.
func offsetKey(connector string, partition map[string]any) ([]byte, error) {
	b, err := json.Marshal([]any{connector, partition})
	if err != nil {
		return nil, fmt.Errorf("source partition %v is not JSON-encodable: %w", partition, err)
	}
	return b, nil
}

func canonical(partition map[string]any) (string, error) {
	b, err := json.Marshal(partition)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeJSON decodes JSON with integral numbers as int64 and others as
// float64, the schemaless representation of package connect.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if n, err := x.Int64(); err == nil {
				return n
			}
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	}
	return v
}

func (s *offsetStore) apply(key, value []byte) error {
	kv, err := decodeJSON(key)
	if err != nil {
		return err
	}
	arr, ok := kv.([]any)
	if !ok || len(arr) != 2 {
		return errBadKey
	}
	conn, ok := arr[0].(string)
	if !ok {
		return errBadKey
	}
	part, ok := arr[1].(map[string]any)
	if !ok && arr[1] != nil {
		return errBadKey
	}
	ck, err := canonical(part)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == nil {
		delete(s.m[conn], ck)
		return nil
	}
	vv, err := decodeJSON(value)
	if err != nil {
		return err
	}
	off, _ := vv.(map[string]any)
	if off == nil {
		delete(s.m[conn], ck)
		return nil
	}
	if s.m[conn] == nil {
		s.m[conn] = map[string]offsetEntry{}
	}
	s.m[conn][ck] = offsetEntry{partition: part, offset: off}
	return nil
}

func (s *offsetStore) get(connector string, partition map[string]any) (map[string]any, error) {
	ck, err := canonical(partition)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[connector][ck]
	if !ok {
		return nil, nil
	}
	return cloneAny(e.offset).(map[string]any), nil
}

func (s *offsetStore) all(connector string) []connect.SourceOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m[connector]))
	for k := range s.m[connector] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]connect.SourceOffset, 0, len(keys))
	for _, k := range keys {
		e := s.m[connector][k]
		out = append(out, connect.SourceOffset{Partition: cloneAny(e.partition).(map[string]any), Offset: cloneAny(e.offset).(map[string]any)})
	}
	return out
}

func cloneAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneAny(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneAny(e)
		}
		return a
	}
	return v
}

// offsetReader is the connect.OffsetReader given to source tasks.
type offsetReader struct {
	store     *offsetStore
	connector string
	sync      func(ctx context.Context) error
}

// Offset implements connect.OffsetReader.
func (r *offsetReader) Offset(ctx context.Context, partition map[string]any) (map[string]any, error) {
	if r.sync != nil {
		if err := r.sync(ctx); err != nil {
			return nil, err
		}
	}
	return r.store.get(r.connector, partition)
}
