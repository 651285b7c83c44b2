package api

// ServerInfo is the body of GET /.
type ServerInfo struct {
	Version        string `json:"version"`
	Commit         string `json:"commit"`
	KafkaClusterID string `json:"kafka_cluster_id"`
}

// ConnectorExpanded is one value of GET /connectors?expand=status&expand=info,
// keyed by connector name.
type ConnectorExpanded struct {
	Status *ConnectorStateInfo `json:"status,omitempty"`
	Info   *ConnectorInfo      `json:"info,omitempty"`
}

// ActiveTopics is one value of GET /connectors/{name}/topics, keyed by
// connector name.
type ActiveTopics struct {
	Topics []string `json:"topics"`
}

// HealthStatus is the body of GET /health (KIP-1017).
type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}
