package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file implements runtime/rest's Cluster interface (Contract F).

func (w *Worker) ready(ctx context.Context) error {
	w.mu.Lock()
	ok := w.started && !w.closed && w.cfgLog != nil
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("worker is not running: %w", api.ErrConflict)
	}
	return w.cfgLog.readToEnd(ctx)
}

func notFound(name string) error {
	return fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
}

// Connectors lists connector names, sorted.
func (w *Worker) Connectors(ctx context.Context) ([]string, error) {
	if err := w.ready(ctx); err != nil {
		return nil, err
	}
	return sortedKeys(w.cfgs.snapshot().connectors), nil
}

func (w *Worker) connectorType(cfg map[string]string) api.ConnectorType {
	if p, ok := w.plugin(cfg["connector.class"]); ok {
		return api.ConnectorType(p.Type)
	}
	return api.Unknown
}

func (w *Worker) info(snap *snapshot, name string) api.ConnectorInfo {
	cfg := snap.connectors[name]
	info := api.ConnectorInfo{Name: name, Config: w.masked(cfg), Tasks: []api.TaskID{}, Type: w.connectorType(cfg)}
	for i := range snap.tasks[name] {
		info.Tasks = append(info.Tasks, api.TaskID{Connector: name, Task: i})
	}
	return info
}

// Connector returns a connector's config and tasks.
func (w *Worker) Connector(ctx context.Context, name string) (api.ConnectorInfo, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorInfo{}, err
	}
	snap := w.cfgs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return api.ConnectorInfo{}, notFound(name)
	}
	return w.info(snap, name), nil
}

// CreateConnector validates and stores a new connector.
func (w *Worker) CreateConnector(ctx context.Context, req api.CreateConnectorRequest) (api.ConnectorInfo, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorInfo{}, err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = req.Config["name"]
	}
	if err := checkName(name); err != nil {
		return api.ConnectorInfo{}, err
	}
	if _, ok := w.cfgs.snapshot().connectors[name]; ok {
		return api.ConnectorInfo{}, fmt.Errorf("Connector %s already exists: %w", name, api.ErrConflict)
	}
	cfg := maps.Clone(req.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if n, ok := cfg["name"]; ok && n != name {
		return api.ConnectorInfo{}, fmt.Errorf("connector name %q in the config does not match %q: %w", n, name, api.ErrBadRequest)
	}
	cfg["name"] = name
	target := ""
	switch req.InitialState {
	case "", api.Running:
	case api.Paused:
		target = targetPaused
	case api.Stopped:
		target = targetStopped
	default:
		return api.ConnectorInfo{}, fmt.Errorf("initial_state %q must be RUNNING, PAUSED or STOPPED: %w", req.InitialState, api.ErrBadRequest)
	}
	if err := w.validateOrError(ctx, cfg); err != nil {
		return api.ConnectorInfo{}, err
	}
	if target != "" {
		if err := w.writeConfig(ctx, "target-state-"+name, newTargetValue(target)); err != nil {
			return api.ConnectorInfo{}, err
		}
	}
	off, err := w.writeConfigAt(ctx, "connector-"+name, propsValue{Properties: cfg})
	if err != nil {
		return api.ConnectorInfo{}, err
	}
	// Workers write configs directly (no forwarding to the leader): when
	// two creates of one name race, the earlier record wins the create
	// and the later writer reports the conflict.
	if first, orig := w.cfgs.createdAt(name); first >= 0 && first < off {
		// Put the winner's config back over ours.
		var v propsValue
		if err := json.Unmarshal(orig, &v); err == nil {
			if err := w.writeConfig(ctx, "connector-"+name, v); err != nil {
				return api.ConnectorInfo{}, err
			}
		}
		return api.ConnectorInfo{}, fmt.Errorf("Connector %s already exists (created concurrently by another request): %w", name, api.ErrConflict)
	}
	return w.info(w.cfgs.snapshot(), name), nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("connector name is required: %w", api.ErrBadRequest)
	}
	if strings.ContainsAny(name, "/\\\n\r\t") || strings.TrimSpace(name) != name {
		return fmt.Errorf("connector name %q may not contain '/', '\\', control characters or surrounding spaces: %w", name, api.ErrBadRequest)
	}
	return nil
}

// Delivery invariant 8 (DESIGN.md): what is stored passed Start's rules.
func (w *Worker) validateOrError(ctx context.Context, cfg map[string]string) error {
	infos, err := w.ValidateConfig(ctx, cfg["connector.class"], cfg)
	if err != nil {
		return err
	}
	if infos.ErrorCount > 0 {
		return &api.ValidationError{Infos: infos}
	}
	return nil
}

// PutConnectorConfig creates or replaces a connector's config. Secret
// values sent back as "[hidden]" keep their stored value.
func (w *Worker) PutConnectorConfig(ctx context.Context, name string, cfg map[string]string) (api.ConnectorInfo, bool, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorInfo{}, false, err
	}
	if err := checkName(name); err != nil {
		return api.ConnectorInfo{}, false, err
	}
	cfg = maps.Clone(cfg)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if n, ok := cfg["name"]; ok && n != name {
		return api.ConnectorInfo{}, false, fmt.Errorf("connector name %q in the config does not match %q: %w", n, name, api.ErrBadRequest)
	}
	cfg["name"] = name
	old, exists := w.cfgs.snapshot().connectors[name]
	for k, v := range cfg {
		if v == hidden {
			if ov, ok := old[k]; ok {
				cfg[k] = ov
			}
		}
	}
	if err := w.validateOrError(ctx, cfg); err != nil {
		return api.ConnectorInfo{}, false, err
	}
	if err := w.writeConfig(ctx, "connector-"+name, propsValue{Properties: cfg}); err != nil {
		return api.ConnectorInfo{}, false, err
	}
	return w.info(w.cfgs.snapshot(), name), !exists, nil
}

// PatchConnectorConfig applies a KIP-477 patch (nil deletes a key).
func (w *Worker) PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (api.ConnectorInfo, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorInfo{}, err
	}
	old, ok := w.cfgs.snapshot().connectors[name]
	if !ok {
		return api.ConnectorInfo{}, notFound(name)
	}
	cfg := maps.Clone(old)
	for k, v := range patch {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = *v
		}
	}
	info, _, err := w.PutConnectorConfig(ctx, name, cfg)
	return info, err
}

// DeleteConnector removes a connector (tombstones in the config topic).
func (w *Worker) DeleteConnector(ctx context.Context, name string) error {
	if err := w.ready(ctx); err != nil {
		return err
	}
	if _, ok := w.cfgs.snapshot().connectors[name]; !ok {
		return notFound(name)
	}
	if err := w.writeConfig(ctx, "connector-"+name, nil); err != nil {
		return err
	}
	return w.writeConfig(ctx, "target-state-"+name, nil)
}

// ConnectorConfig returns a connector's config with secrets masked.
func (w *Worker) ConnectorConfig(ctx context.Context, name string) (map[string]string, error) {
	if err := w.ready(ctx); err != nil {
		return nil, err
	}
	cfg, ok := w.cfgs.snapshot().connectors[name]
	if !ok {
		return nil, notFound(name)
	}
	return w.masked(cfg), nil
}

// ConnectorStatus returns the connector's and its tasks' states.
func (w *Worker) ConnectorStatus(ctx context.Context, name string) (api.ConnectorStateInfo, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorStateInfo{}, err
	}
	snap := w.cfgs.snapshot()
	cfg, ok := snap.connectors[name]
	if !ok {
		return api.ConnectorStateInfo{}, notFound(name)
	}
	out := api.ConnectorStateInfo{Name: name, Type: w.connectorType(cfg), Tasks: []api.TaskState{}}
	if st, ok := w.statuses.connector(name); ok {
		out.Connector = st.connectorState()
	} else {
		out.Connector = api.ConnectorState{State: api.Unassigned}
	}
	for i := range snap.tasks[name] {
		out.Tasks = append(out.Tasks, w.taskState(name, i))
	}
	return out, nil
}

func (w *Worker) taskState(name string, i int) api.TaskState {
	if st, ok := w.statuses.task(name, i); ok {
		return api.TaskState{ID: i, State: api.State(st.State), WorkerID: st.WorkerID, Trace: st.Trace}
	}
	return api.TaskState{ID: i, State: api.Unassigned}
}

// Tasks returns the task configs (secrets masked).
func (w *Worker) Tasks(ctx context.Context, name string) ([]api.TaskInfo, error) {
	if err := w.ready(ctx); err != nil {
		return nil, err
	}
	snap := w.cfgs.snapshot()
	cfg, ok := snap.connectors[name]
	if !ok {
		return nil, notFound(name)
	}
	out := []api.TaskInfo{}
	for i, t := range snap.tasks[name] {
		m := maps.Clone(t)
		m["connector.class"] = cfg["connector.class"]
		m = w.masked(m)
		if _, had := t["connector.class"]; !had {
			delete(m, "connector.class")
		}
		out = append(out, api.TaskInfo{ID: api.TaskID{Connector: name, Task: i}, Config: m})
	}
	return out, nil
}

// TaskStatus returns one task's state.
func (w *Worker) TaskStatus(ctx context.Context, name string, task int) (api.TaskState, error) {
	if err := w.ready(ctx); err != nil {
		return api.TaskState{}, err
	}
	snap := w.cfgs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return api.TaskState{}, notFound(name)
	}
	if task < 0 || task >= len(snap.tasks[name]) {
		return api.TaskState{}, fmt.Errorf("Task %s-%d not found: %w", name, task, api.ErrNotFound)
	}
	return w.taskState(name, task), nil
}

// RestartConnector writes a restart request; the owners restart the
// connector and (with includeTasks) its tasks, only failed ones with
// onlyFailed.
func (w *Worker) RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (api.ConnectorStateInfo, error) {
	st, err := w.ConnectorStatus(ctx, name)
	if err != nil {
		return st, err
	}
	if err := w.writeConfig(ctx, "restart-connector-"+name, restartValue{IncludeTasks: includeTasks, OnlyFailed: onlyFailed}); err != nil {
		return st, err
	}
	if !onlyFailed || st.Connector.State == api.Failed {
		st.Connector.State = api.Restarting
	}
	if includeTasks {
		for i := range st.Tasks {
			if !onlyFailed || st.Tasks[i].State == api.Failed {
				st.Tasks[i].State = api.Restarting
			}
		}
	}
	return st, nil
}

// RestartTask writes a task restart request; its owner restarts it.
func (w *Worker) RestartTask(ctx context.Context, name string, task int) error {
	if _, err := w.TaskStatus(ctx, name, task); err != nil {
		return err
	}
	return w.writeConfig(ctx, "restart-task-"+name+"-"+itoa(task), struct{}{})
}

func (w *Worker) setTarget(ctx context.Context, name, target string) error {
	if err := w.ready(ctx); err != nil {
		return err
	}
	if _, ok := w.cfgs.snapshot().connectors[name]; !ok {
		return notFound(name)
	}
	return w.writeConfig(ctx, "target-state-"+name, newTargetValue(target))
}

// PauseConnector sets the target state PAUSED.
func (w *Worker) PauseConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, targetPaused)
}

// ResumeConnector sets the target state STARTED.
func (w *Worker) ResumeConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, targetStarted)
}

// StopConnector sets the target state STOPPED (KIP-875): the connector and
// its tasks are shut down and its task configs emptied.
func (w *Worker) StopConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, targetStopped)
}

// Offsets returns a connector's offsets: source offsets from the offsets
// topic, sink offsets from its consumer group.
func (w *Worker) Offsets(ctx context.Context, name string) (api.ConnectorOffsets, error) {
	if err := w.ready(ctx); err != nil {
		return api.ConnectorOffsets{}, err
	}
	cfg, ok := w.cfgs.snapshot().connectors[name]
	if !ok {
		return api.ConnectorOffsets{}, notFound(name)
	}
	out := api.ConnectorOffsets{Offsets: []api.ConnectorOffset{}}
	if w.connectorType(cfg) == api.Sink {
		offs, err := w.adm.FetchOffsets(ctx, sinkGroupID(name, cfg))
		if err == nil {
			err = offs.Error()
		}
		if errors.Is(err, errGroupIDNotFound) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("fetching consumer group offsets: %w", err)
		}
		for _, o := range offs.Sorted() {
			if o.At < 0 {
				continue
			}
			out.Offsets = append(out.Offsets, api.ConnectorOffset{
				Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": int64(o.Partition)},
				Offset:    map[string]any{"kafka_offset": o.At},
			})
		}
		return out, nil
	}
	if err := w.offLog.readToEnd(ctx); err != nil {
		return out, err
	}
	for _, so := range w.offsets.all(name) {
		out.Offsets = append(out.Offsets, api.ConnectorOffset{Partition: so.Partition, Offset: so.Offset})
	}
	return out, nil
}

// stopSettleTimeout bounds how long offset requests wait for a stopping
// connector's empty task set to reach the config topic.
const stopSettleTimeout = 15 * time.Second

func (w *Worker) requireStopped(ctx context.Context, name string) (map[string]string, error) {
	if err := w.ready(ctx); err != nil {
		return nil, err
	}
	snap := w.cfgs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return nil, notFound(name)
	}
	// A stop is written as the STOPPED target state first; the leader then
	// writes the connector's empty task set. Between the two the connector
	// is stopping: wait (bounded) for the task set instead of refusing a
	// request that follows a successful PUT .../stop.
	for deadline := time.Now().Add(stopSettleTimeout); snap.target(name) == targetStopped && len(snap.tasks[name]) > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := w.cfgLog.readToEnd(ctx); err != nil {
			return nil, err
		}
		snap = w.cfgs.snapshot()
	}
	cfg, ok := snap.connectors[name]
	if !ok {
		return nil, notFound(name)
	}
	if snap.target(name) != targetStopped || len(snap.tasks[name]) > 0 {
		return nil, fmt.Errorf("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint: %w", name, api.ErrBadRequest)
	}
	return cfg, nil
}

// AlterOffsets writes offsets for a STOPPED connector (KIP-875).
func (w *Worker) AlterOffsets(ctx context.Context, name string, offs api.ConnectorOffsets) (api.Message, error) {
	cfg, err := w.requireStopped(ctx, name)
	if err != nil {
		return api.Message{}, err
	}
	if len(offs.Offsets) == 0 {
		return api.Message{}, fmt.Errorf("the offsets to alter may not be empty: %w", api.ErrBadRequest)
	}
	if w.connectorType(cfg) == api.Sink {
		return w.alterSinkOffsets(ctx, name, cfg, offs)
	}
	var recs []*kgo.Record
	for i, o := range offs.Offsets {
		if o.Partition == nil {
			return api.Message{}, fmt.Errorf("offsets[%d]: partition may not be null: %w", i, api.ErrBadRequest)
		}
		k, err := offsetKey(name, o.Partition)
		if err != nil {
			return api.Message{}, fmt.Errorf("offsets[%d]: %v: %w", i, err, api.ErrBadRequest)
		}
		var v []byte
		if o.Offset != nil {
			if v, err = jsonMarshal(o.Offset); err != nil {
				return api.Message{}, fmt.Errorf("offsets[%d]: %v: %w", i, err, api.ErrBadRequest)
			}
		}
		recs = append(recs, &kgo.Record{Topic: w.cfg.OffsetTopic, Key: k, Value: v})
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return api.Message{}, fmt.Errorf("writing offsets: %w", err)
	}
	if err := w.offLog.readToEnd(ctx); err != nil {
		return api.Message{}, err
	}
	return api.Message{Message: "The offsets for this connector have been altered successfully"}, nil
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

func (w *Worker) alterSinkOffsets(ctx context.Context, name string, cfg map[string]string, offs api.ConnectorOffsets) (api.Message, error) {
	set := kadm.Offsets{}
	del := map[string][]int32{}
	for i, o := range offs.Offsets {
		topic, ok := o.Partition["kafka_topic"].(string)
		if !ok || topic == "" {
			return api.Message{}, fmt.Errorf("offsets[%d]: partition needs a string kafka_topic: %w", i, api.ErrBadRequest)
		}
		p, ok := toInt64(o.Partition["kafka_partition"])
		if !ok || p < 0 {
			return api.Message{}, fmt.Errorf("offsets[%d]: partition needs a non-negative integer kafka_partition: %w", i, api.ErrBadRequest)
		}
		if o.Offset == nil {
			del[topic] = append(del[topic], int32(p))
			continue
		}
		off, ok := toInt64(o.Offset["kafka_offset"])
		if !ok || off < 0 {
			return api.Message{}, fmt.Errorf("offsets[%d]: offset needs a non-negative integer kafka_offset: %w", i, api.ErrBadRequest)
		}
		set.Add(kadm.Offset{Topic: topic, Partition: int32(p), At: off, LeaderEpoch: -1})
	}
	group := sinkGroupID(name, cfg)
	if len(set) > 0 {
		err := w.whileSinkGroupSettles(ctx, func() error {
			resp, err := w.adm.CommitOffsets(ctx, group, set)
			if err == nil {
				err = resp.Error()
			}
			return err
		})
		if err != nil {
			return api.Message{}, fmt.Errorf("committing offsets for group %s: %w", group, err)
		}
	}
	if len(del) > 0 {
		ts := kadm.TopicsSet{}
		for t, ps := range del {
			ts.Add(t, ps...)
		}
		err := w.whileSinkGroupSettles(ctx, func() error {
			resp, err := w.adm.DeleteOffsets(ctx, group, ts)
			if err == nil {
				err = resp.Error()
			}
			return err
		})
		if err != nil {
			return api.Message{}, fmt.Errorf("deleting offsets for group %s: %w", group, err)
		}
	}
	return api.Message{Message: "The offsets for this connector have been altered successfully"}, nil
}

// whileSinkGroupSettles runs op, again while the broker answers that the
// sink's consumer group still has members. A connector reports STOPPED once
// its tasks are gone, but their consumers may still be committing and
// leaving the group, and until then the broker refuses commits and deletes
// from outside the group. It gives up after a session timeout plus the task
// shutdown timeout, by when a member that did not leave has expired.
func (w *Worker) whileSinkGroupSettles(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(w.cfg.SessionTimeout + w.cfg.TaskShutdownTimeout)
	for {
		err := op()
		settling := errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.NonEmptyGroup) ||
			errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration)
		if !settling || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ResetOffsets removes all offsets of a STOPPED connector (KIP-875).
func (w *Worker) ResetOffsets(ctx context.Context, name string) (api.Message, error) {
	cfg, err := w.requireStopped(ctx, name)
	if err != nil {
		return api.Message{}, err
	}
	const ok = "The offsets for this connector have been reset successfully"
	if w.connectorType(cfg) == api.Sink {
		group := sinkGroupID(name, cfg)
		err := w.whileSinkGroupSettles(ctx, func() error {
			resp, err := w.adm.DeleteGroup(ctx, group)
			if err == nil {
				err = resp.Err
			}
			return err
		})
		if err != nil && !errors.Is(err, errGroupIDNotFound) {
			return api.Message{}, fmt.Errorf("deleting consumer group %s: %w", group, err)
		}
		return api.Message{Message: ok}, nil
	}
	if err := w.offLog.readToEnd(ctx); err != nil {
		return api.Message{}, err
	}
	var recs []*kgo.Record
	for _, so := range w.offsets.all(name) {
		k, err := offsetKey(name, so.Partition)
		if err != nil {
			return api.Message{}, err
		}
		recs = append(recs, &kgo.Record{Topic: w.cfg.OffsetTopic, Key: k})
	}
	if len(recs) > 0 {
		if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return api.Message{}, fmt.Errorf("writing offset tombstones: %w", err)
		}
		if err := w.offLog.readToEnd(ctx); err != nil {
			return api.Message{}, err
		}
	}
	return api.Message{Message: ok}, nil
}

// KafkaClusterID returns the Kafka cluster id (GET /).
func (w *Worker) KafkaClusterID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clusterID
}

// Plugins lists the connector plugins and the built-in transformations,
// predicates, converters and header converters, sorted by class
// (GET /connector-plugins filters them with connectorsOnly).
func (w *Worker) Plugins() []api.PluginInfo {
	out := make([]api.PluginInfo, 0, len(w.plugins))
	for _, p := range w.plugins {
		out = append(out, api.PluginInfo{Class: p.Class, Type: p.Type, Version: p.Version})
	}
	out = append(out, w.builtinPlugins()...)
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

var _ = connect.SplitList
