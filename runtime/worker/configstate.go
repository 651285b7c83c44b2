package worker

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"sync"
)

// Target states stored in the config topic.
const (
	targetStarted = "STARTED"
	targetPaused  = "PAUSED"
	targetStopped = "STOPPED"
)

// restartRequest is a restart-connector record (or a sluice restart-task
// record when task >= 0).
type restartRequest struct {
	Connector    string
	Task         int // -1 for a connector restart
	IncludeTasks bool
	OnlyFailed   bool
}

// snapshot is an immutable view of the config topic.
type snapshot struct {
	offset     int64 // next config topic offset
	connectors map[string]map[string]string
	tasks      map[string][]map[string]string // committed task configs
	targets    map[string]string
	// reconfiguring marks connectors whose config changed after their last
	// task configs commit: the leader has yet to regenerate task configs.
	reconfiguring map[string]bool
}

func (s *snapshot) target(name string) string {
	if t, ok := s.targets[name]; ok {
		return t
	}
	return targetStarted
}

// shape is the set of connectors and their task counts, which determines
// the assignment.
func (s *snapshot) shape() string {
	names := make([]string, 0, len(s.connectors))
	for n := range s.connectors {
		names = append(names, n)
	}
	sortStrings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(len(s.tasks[n])))
		b.WriteByte(';')
	}
	return b.String()
}

// configState accumulates the config topic.
type configState struct {
	mu         sync.Mutex
	offset     int64
	connectors map[string]map[string]string
	tasks      map[string][]map[string]string
	pending    map[string]map[int]map[string]string
	targets    map[string]string
	reconfig   map[string]bool
	created    map[string]int64 // offset of the record that created each connector
	createdCfg map[string][]byte
	restarts   []restartRequest
	// levels are cluster-scoped logger levels read since startup, not yet
	// applied (KIP-976).
	levels []loggerLevel
	// live is set once the worker read the topic to its end at startup;
	// restart requests and logger levels read before are history, not
	// requests.
	live bool
}

// loggerLevel is a logger-cluster-<namespace> record: a logger level set
// with scope=cluster for every worker.
type loggerLevel struct {
	Namespace string
	Level     string
}

// loggerLevelValue is the value of a logger-cluster-<namespace> record, as
// Kafka Connect writes it.
type loggerLevelValue struct {
	Level *string `json:"level"`
}

func newConfigState() *configState {
	return &configState{
		connectors: map[string]map[string]string{},
		tasks:      map[string][]map[string]string{},
		pending:    map[string]map[int]map[string]string{},
		targets:    map[string]string{},
		reconfig:   map[string]bool{},
		created:    map[string]int64{},
		createdCfg: map[string][]byte{},
	}
}

type propsValue struct {
	Properties map[string]string `json:"properties"`
}

type commitValue struct {
	Tasks int `json:"tasks"`
}

// targetValue is a target-state record. Like Kafka Connect since KIP-875,
// STOPPED is written as state PAUSED (for older readers) plus state.v2.
type targetValue struct {
	State   string `json:"state"`
	StateV2 string `json:"state.v2,omitempty"`
}

func newTargetValue(state string) targetValue {
	if state == targetStopped {
		return targetValue{State: targetPaused, StateV2: targetStopped}
	}
	return targetValue{State: state, StateV2: state}
}

type restartValue struct {
	IncludeTasks bool `json:"include-tasks"`
	OnlyFailed   bool `json:"only-failed"`
}

// apply folds one config topic record into the state. Malformed records are
// skipped (reported through the returned error).
func (c *configState) apply(key string, value []byte, offset int64) error {
	c.mu.Lock()
	if name, ok := strings.CutPrefix(key, "connector-"); ok {
		if value == nil {
			delete(c.created, name)
			delete(c.createdCfg, name)
		} else if _, exists := c.connectors[name]; !exists {
			c.created[name] = offset
			c.createdCfg[name] = value
		}
	}
	err := c.applyLocked(key, value)
	c.offset = offset + 1
	c.mu.Unlock()
	return err
}

func (c *configState) applyLocked(key string, value []byte) error {
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		if value == nil {
			delete(c.connectors, name)
			delete(c.tasks, name)
			delete(c.pending, name)
			delete(c.targets, name)
			delete(c.reconfig, name)
			return nil
		}
		var v propsValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		if v.Properties == nil {
			v.Properties = map[string]string{}
		}
		c.connectors[name] = v.Properties
		c.reconfig[name] = true
	case strings.HasPrefix(key, "task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "task-"))
		if !ok {
			return errBadKey
		}
		if value == nil {
			return nil
		}
		var v propsValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		if c.pending[name] == nil {
			c.pending[name] = map[int]map[string]string{}
		}
		c.pending[name][n] = v.Properties
	case strings.HasPrefix(key, "commit-"):
		name := strings.TrimPrefix(key, "commit-")
		if value == nil {
			return nil
		}
		var v commitValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		p := c.pending[name]
		tasks := make([]map[string]string, 0, v.Tasks)
		for i := 0; i < v.Tasks; i++ {
			cfg, ok := p[i]
			if !ok {
				// Incomplete set: Kafka Connect treats it as inconsistent; keep
				// the previous committed configs.
				return errInconsistentTasks
			}
			tasks = append(tasks, cfg)
		}
		c.tasks[name] = tasks
		delete(c.pending, name)
		delete(c.reconfig, name)
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		if value == nil {
			delete(c.targets, name)
			return nil
		}
		var v targetValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		st := v.State
		if v.StateV2 != "" {
			st = v.StateV2
		}
		switch st {
		case targetStarted, targetPaused, targetStopped:
			c.targets[name] = st
		default:
			return errBadKey
		}
	case strings.HasPrefix(key, "restart-connector-"):
		if value == nil || !c.live {
			return nil
		}
		var v restartValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		c.restarts = append(c.restarts, restartRequest{Connector: strings.TrimPrefix(key, "restart-connector-"), Task: -1, IncludeTasks: v.IncludeTasks, OnlyFailed: v.OnlyFailed})
	case strings.HasPrefix(key, loggerClusterPrefix):
		// Like Kafka, levels written before this worker started are not
		// applied: cluster-scoped levels do not survive restarts.
		if value == nil || !c.live {
			return nil
		}
		var v loggerLevelValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		if v.Level == nil {
			return errBadKey
		}
		c.levels = append(c.levels, loggerLevel{Namespace: strings.TrimPrefix(key, loggerClusterPrefix), Level: *v.Level})
	case strings.HasPrefix(key, "restart-task-"):
		if value == nil || !c.live {
			return nil
		}
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "restart-task-"))
		if !ok {
			return errBadKey
		}
		c.restarts = append(c.restarts, restartRequest{Connector: name, Task: n})
	}
	return nil
}

// splitTaskKey splits "<connector>-<n>".
func splitTaskKey(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:i], n, true
}

// createdAt returns the offset and value of the record that created
// connector name, or -1.
func (c *configState) createdAt(name string) (int64, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.created[name]; ok {
		return o, c.createdCfg[name]
	}
	return -1, nil
}

func (c *configState) setLive() {
	c.mu.Lock()
	c.live = true
	c.mu.Unlock()
}

// takeLoggerLevels returns and clears the cluster-scoped logger levels
// read and not yet applied.
func (c *configState) takeLoggerLevels() []loggerLevel {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.levels
	c.levels = nil
	return l
}

// loggerClusterPrefix starts the config topic key of a cluster-scoped
// logger level (Kafka Connect's, KIP-976).
const loggerClusterPrefix = "logger-cluster-"

// takeRestarts returns and clears pending restart requests.
func (c *configState) takeRestarts() []restartRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.restarts
	c.restarts = nil
	return r
}

func (c *configState) snapshot() *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &snapshot{
		offset:     c.offset,
		connectors: make(map[string]map[string]string, len(c.connectors)),
		tasks:      make(map[string][]map[string]string, len(c.tasks)),
		targets:    maps.Clone(c.targets),

		reconfiguring: maps.Clone(c.reconfig),
	}
	for k, v := range c.connectors {
		s.connectors[k] = maps.Clone(v)
	}
	for k, v := range c.tasks {
		if _, ok := c.connectors[k]; !ok {
			continue
		}
		ts := make([]map[string]string, len(v))
		for i, t := range v {
			ts[i] = maps.Clone(t)
		}
		s.tasks[k] = ts
	}
	return s
}
