package schemaregistry

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Record key types of the _schemas topic, as Confluent writes them.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyNoop          = "NOOP"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
)

// recordKey is the JSON key of a _schemas record. Subject is a pointer so
// that global config and mode keys carry "subject":null as Confluent's do.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

// Reference names another subject's schema version that a schema uses.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaValue is the JSON value of a SCHEMA record.
type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Deleted    bool        `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// state is the registry's in-memory view of the _schemas topic. It is only
// changed by apply, in topic order, so every instance reading the topic
// ends up with the same state.
type state struct {
	mu       sync.RWMutex
	subjects map[string]map[int]*schemaValue // subject -> version -> value
	ids      map[int]*schemaValue            // id -> first value seen with it
	maxID    int
	config   map[string]Compatibility // "" = global
	mode     map[string]string        // "" = global
}

func newState() *state {
	return &state{
		subjects: map[string]map[int]*schemaValue{},
		ids:      map[int]*schemaValue{},
		config:   map[string]Compatibility{},
		mode:     map[string]string{},
	}
}

// apply folds one record into the state. Undecodable records are skipped
// with an error (the caller logs it), as Confluent's reader does.
func (s *state) apply(key, value []byte) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("_schemas record key %q: %w", key, err)
	}
	subj := ""
	if k.Subject != nil {
		subj = *k.Subject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch k.KeyType {
	case keySchema:
		if value == nil { // hard delete
			if vs := s.subjects[subj]; vs != nil {
				delete(vs, k.Version)
				if len(vs) == 0 {
					delete(s.subjects, subj)
				}
			}
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("_schemas SCHEMA value for %s/%d: %w", subj, k.Version, err)
		}
		vs := s.subjects[v.Subject]
		if vs == nil {
			vs = map[int]*schemaValue{}
			s.subjects[v.Subject] = vs
		}
		vs[v.Version] = &v
		if _, ok := s.ids[v.ID]; !ok {
			s.ids[v.ID] = &v
		}
		s.maxID = max(s.maxID, v.ID)
	case keyConfig:
		if value == nil {
			delete(s.config, subj)
			return nil
		}
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("_schemas CONFIG value: %w", err)
		}
		if c, err := ParseCompatibility(v.CompatibilityLevel); err == nil {
			s.config[subj] = c
		}
	case keyMode:
		if value == nil {
			delete(s.mode, subj)
			return nil
		}
		var v modeValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("_schemas MODE value: %w", err)
		}
		s.mode[subj] = v.Mode
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("_schemas DELETE_SUBJECT value: %w", err)
		}
		for ver, sv := range s.subjects[v.Subject] {
			if ver <= v.Version {
				cp := *sv
				cp.Deleted = true
				s.subjects[v.Subject][ver] = &cp
			}
		}
	case keyNoop, keyClearSubject:
	default:
		return fmt.Errorf("_schemas record with unknown keytype %q", k.KeyType)
	}
	return nil
}

// versions returns a subject's versions in ascending order.
func (s *state) versions(subject string, deleted bool) []*schemaValue {
	var out []*schemaValue
	for _, v := range s.subjects[subject] {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

func (s *state) subjectNames(deleted bool) []string {
	var out []string
	for name := range s.subjects {
		if len(s.versions(name, deleted)) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *state) modeOf(subject string) string {
	if m, ok := s.mode[subject]; ok && subject != "" {
		return m
	}
	if m, ok := s.mode[""]; ok {
		return m
	}
	return "READWRITE"
}

// idFor returns the id already assigned to an identical schema (same
// canonical text, type and references) in any subject, or 0.
func (s *state) idFor(canonical, schemaType string, refs []Reference) int {
	best := 0
	for id, v := range s.ids {
		if v.Schema == canonical && v.SchemaType == schemaType && slices.Equal(v.References, refs) && (best == 0 || id < best) {
			best = id
		}
	}
	return best
}
