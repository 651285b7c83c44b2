package worker

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/runtime/api"
)

// statusValue is a status topic record value.
type statusValue struct {
	State      string `json:"state"`
	Trace      string `json:"trace,omitempty"`
	WorkerID   string `json:"worker_id"`
	Generation int32  `json:"generation"`
}

// statusStore accumulates the status topic.
type statusStore struct {
	mu         sync.Mutex
	connectors map[string]statusValue
	tasks      map[string]map[int]statusValue
	topics     map[string]map[string]topicStatus // connector -> topic
	topicKeys  map[string][2]string              // record key -> connector, topic
}

func newStatusStore() *statusStore {
	return &statusStore{connectors: map[string]statusValue{}, tasks: map[string]map[int]statusValue{},
		topics: map[string]map[string]topicStatus{}, topicKeys: map[string][2]string{}}
}

func connectorStatusKey(name string) string { return "status-connector-" + name }
func taskStatusKey(name string, task int) string {
	return "status-task-" + name + "-" + itoa(task)
}

// accept reports whether a new status may replace the old one: a status
// from an older generation written by another worker is stale.
func accept(old statusValue, had bool, nv statusValue) bool {
	return !had || nv.Generation >= old.Generation || nv.WorkerID == old.WorkerID
}

func (s *statusStore) apply(key string, value []byte) error {
	if strings.HasPrefix(key, topicStatusPrefix) {
		return s.applyTopic(key, value)
	}
	var v statusValue
	if value != nil {
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(key, "status-connector-"):
		name := strings.TrimPrefix(key, "status-connector-")
		if value == nil {
			delete(s.connectors, name)
			return nil
		}
		old, had := s.connectors[name]
		if accept(old, had, v) {
			s.connectors[name] = v
		}
	case strings.HasPrefix(key, "status-task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "status-task-"))
		if !ok {
			return errBadKey
		}
		if value == nil {
			if m := s.tasks[name]; m != nil {
				delete(m, n)
			}
			return nil
		}
		if s.tasks[name] == nil {
			s.tasks[name] = map[int]statusValue{}
		}
		old, had := s.tasks[name][n]
		if accept(old, had, v) {
			s.tasks[name][n] = v
		}
	default:
		return errBadKey
	}
	return nil
}

func (s *statusStore) connector(name string) (statusValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.connectors[name]
	return v, ok
}

func (s *statusStore) task(name string, n int) (statusValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.tasks[name][n]
	return v, ok
}

func (v statusValue) connectorState() api.ConnectorState {
	return api.ConnectorState{State: api.State(v.State), WorkerID: v.WorkerID, Trace: v.Trace}
}
