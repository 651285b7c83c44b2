// Package api holds the entities of sluice's Kafka Connect-compatible REST
// API, shared by the REST server (runtime/rest), the worker that serves it
// (runtime/worker) and the CLI. JSON field names and shapes match Kafka
// Connect's so existing tooling works unchanged.
package api

import (
	"errors"
	"fmt"
)

// ConnectorType is "source" or "sink" (or "unknown").
type ConnectorType string

// Connector types.
const (
	Source  ConnectorType = "source"
	Sink    ConnectorType = "sink"
	Unknown ConnectorType = "unknown"
)

// TaskID names one task of a connector.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// ConnectorInfo is the body of GET /connectors/{name} and of create/update
// responses.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   ConnectorType     `json:"type"`
}

// TaskInfo is one element of GET /connectors/{name}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// State is a connector or task state.
type State string

// States, as in Kafka Connect.
const (
	Unassigned State = "UNASSIGNED"
	Running    State = "RUNNING"
	Paused     State = "PAUSED"
	Stopped    State = "STOPPED"
	Failed     State = "FAILED"
	Restarting State = "RESTARTING"
)

// ConnectorState is the connector part of a status response.
type ConnectorState struct {
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskState is one task of a status response.
type TaskState struct {
	ID       int    `json:"id"`
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// ConnectorStateInfo is the body of GET /connectors/{name}/status.
type ConnectorStateInfo struct {
	Name      string         `json:"name"`
	Connector ConnectorState `json:"connector"`
	Tasks     []TaskState    `json:"tasks"`
	Type      ConnectorType  `json:"type"`
}

// CreateConnectorRequest is the body of POST /connectors.
type CreateConnectorRequest struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	// InitialState is RUNNING (default), PAUSED or STOPPED (KIP-980).
	InitialState State `json:"initial_state,omitempty"`
}

// PluginInfo is one element of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

// ConfigInfos is the body of PUT /connector-plugins/{class}/config/validate.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo is the definition and validation result of one key.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigKeyInfo describes one configuration key.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	Order         int      `json:"order"` // position in its group
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is the validation result of one key.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// ConnectorOffsets is the body of GET/PATCH /connectors/{name}/offsets
// (KIP-875).
type ConnectorOffsets struct {
	Offsets []ConnectorOffset `json:"offsets"`
}

// ConnectorOffset is one partition/offset pair. For source connectors the
// partition and offset are the connector-defined maps; for sink connectors
// the partition is {"kafka_topic": t, "kafka_partition": p} and the offset
// {"kafka_offset": o}. A nil Offset in a PATCH resets that partition.
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// Message is the body of simple acknowledgements such as offset resets.
type Message struct {
	Message string `json:"message"`
}

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// Error kinds the REST layer maps to status codes. Wrap them with
// fmt.Errorf("...: %w", api.ErrNotFound) so the message reaches the user.
var (
	// ErrNotFound maps to 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict maps to 409 (e.g. connector exists, rebalance in progress).
	ErrConflict = errors.New("conflict")
	// ErrBadRequest maps to 400 (invalid config or request).
	ErrBadRequest = errors.New("bad request")
	// ErrForbidden maps to 403 (e.g. topic tracking disabled).
	ErrForbidden = errors.New("forbidden")
)

// ValidationError is an invalid connector configuration with the
// validation result, answered as 400 with the per-field errors.
type ValidationError struct {
	Infos ConfigInfos
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):", e.Infos.ErrorCount)
	for _, c := range e.Infos.Configs {
		for _, m := range c.Value.Errors {
			msg += "\n" + m
		}
	}
	return msg
}

// Unwrap makes a ValidationError match ErrBadRequest.
func (e *ValidationError) Unwrap() error { return ErrBadRequest }
