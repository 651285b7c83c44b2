package pool

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// ConnectorState is a connector's state as MSK Connect reports it, beside
// Kafka Connect's RUNNING/PAUSED/STOPPED/FAILED task-level states.
type ConnectorState string

// MSK Connect connector states.
const (
	StateCreating ConnectorState = "CREATING"
	StateRunning  ConnectorState = "RUNNING"
	StateUpdating ConnectorState = "UPDATING"
	StateDeleting ConnectorState = "DELETING"
	StateFailed   ConnectorState = "FAILED"
)

// StateDescription explains a state ({code, message} as in MSK).
type StateDescription struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// OperationType is MSK Connect's ConnectorOperationType.
type OperationType string

// Operation types. Scale events are UPDATE_WORKER_SETTING operations.
const (
	OpUpdateWorkerSetting          OperationType = "UPDATE_WORKER_SETTING"
	OpUpdateConnectorConfiguration OperationType = "UPDATE_CONNECTOR_CONFIGURATION"
)

// OperationState is MSK Connect's ConnectorOperationState.
type OperationState string

// Operation states.
const (
	OpPending    OperationState = "PENDING"
	OpInProgress OperationState = "UPDATE_IN_PROGRESS"
	OpComplete   OperationState = "UPDATE_COMPLETE"
	OpFailed     OperationState = "UPDATE_FAILED"
)

// StepType is MSK Connect's ConnectorOperationStep type.
type StepType string

// Step types.
const (
	StepInitialize                   StepType = "INITIALIZE_UPDATE"
	StepUpdateWorkerSetting          StepType = "UPDATE_WORKER_SETTING"
	StepUpdateConnectorConfiguration StepType = "UPDATE_CONNECTOR_CONFIGURATION"
	StepFinalize                     StepType = "FINALIZE_UPDATE"
)

// StepState is the state of one operation step.
type StepState string

// Step states.
const (
	StepPending    StepState = "PENDING"
	StepInProgress StepState = "IN_PROGRESS"
	StepCompleted  StepState = "COMPLETED"
	StepFailed     StepState = "FAILED"
)

// Step is one step of an operation.
type Step struct {
	StepType  StepType  `json:"stepType"`
	StepState StepState `json:"stepState"`
}

// WorkerSetting is the worker side of an operation's origin or target:
// the capacity and the number of workers running (or to run).
type WorkerSetting struct {
	Capacity    Capacity `json:"capacity"`
	WorkerCount int      `json:"workerCount"`
	TasksMax    int      `json:"tasksMax,omitempty"`
}

// Operation is one connector operation: a scale event (by the autoscaler,
// the supervisor or a user) or a configuration update, with who asked,
// why, when, and the origin and target settings.
type Operation struct {
	ID           string            `json:"connectorOperationArn"`
	Connector    string            `json:"connectorName"`
	Type         OperationType     `json:"connectorOperationType"`
	State        OperationState    `json:"connectorOperationState"`
	Steps        []Step            `json:"operationSteps"`
	Origin       *WorkerSetting    `json:"originWorkerSetting,omitempty"`
	Target       *WorkerSetting    `json:"targetWorkerSetting,omitempty"`
	OriginConfig map[string]string `json:"originConnectorConfiguration,omitempty"`
	TargetConfig map[string]string `json:"targetConnectorConfiguration,omitempty"`
	// Initiator is who asked: "autoscaler", "user" or "supervisor".
	Initiator string `json:"initiator"`
	// Reason says why, e.g. "mean CPU 91% > 80% over 1m0s".
	Reason    string            `json:"reason"`
	ErrorInfo *StateDescription `json:"errorInfo,omitempty"`
	Created   time.Time         `json:"creationTime"`
	Ended     time.Time         `json:"endTime,omitzero"`
}

// OperationLog records a connector's operations in order. It is safe for
// concurrent use.
type OperationLog struct {
	mu   sync.Mutex
	conn string
	seq  int
	ops  []*Operation
	now  func() time.Time
}

// NewOperationLog returns an empty log for a connector.
func NewOperationLog(connector string) *OperationLog {
	return &OperationLog{conn: connector, now: time.Now}
}

// Begin records a new in-progress operation and returns its id.
func (l *OperationLog) Begin(typ OperationType, initiator, reason string, origin, target *WorkerSetting) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	op := &Operation{
		ID:        fmt.Sprintf("%s-operation-%d", l.conn, l.seq),
		Connector: l.conn,
		Type:      typ,
		State:     OpInProgress,
		Origin:    origin,
		Target:    target,
		Initiator: initiator,
		Reason:    reason,
		Created:   l.now().UTC(),
		Steps: []Step{
			{StepInitialize, StepCompleted},
			{StepType(typ), StepInProgress},
			{StepFinalize, StepPending},
		},
	}
	l.ops = append(l.ops, op)
	return op.ID
}

// End finishes an operation: complete when err is nil, failed otherwise.
func (l *OperationLog) End(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, op := range l.ops {
		if op.ID != id {
			continue
		}
		op.Ended = l.now().UTC()
		if err != nil {
			op.State = OpFailed
			op.Steps[1].StepState = StepFailed
			op.Steps[2].StepState = StepFailed
			op.ErrorInfo = &StateDescription{Code: "UpdateFailed", Message: err.Error()}
			return
		}
		op.State = OpComplete
		op.Steps[1].StepState = StepCompleted
		op.Steps[2].StepState = StepCompleted
	}
}

// List returns copies of all operations, oldest first.
func (l *OperationLog) List() []Operation {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Operation, len(l.ops))
	for i, op := range l.ops {
		out[i] = *op
		out[i].Steps = slices.Clone(op.Steps)
	}
	return out
}

// Get returns one operation by id.
func (l *OperationLog) Get(id string) (Operation, bool) {
	for _, op := range l.List() {
		if op.ID == id {
			return op, true
		}
	}
	return Operation{}, false
}

func (l *OperationLog) setConfigs(id string, origin, target map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, op := range l.ops {
		if op.ID == id {
			op.OriginConfig, op.TargetConfig = origin, target
		}
	}
}
