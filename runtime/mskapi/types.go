package mskapi

import (
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/runtime/pool"
)

// The JSON shapes below use MSK Connect's field names (API model
// 2021-09-14). Opaque parts the API only stores and echoes (VPC, log
// delivery) are kept as raw JSON.

type customPluginRef struct {
	CustomPluginArn string `json:"customPluginArn"`
	Revision        int64  `json:"revision"`
}

type pluginRef struct {
	CustomPlugin *customPluginRef `json:"customPlugin"`
}

type workerConfigRef struct {
	WorkerConfigurationArn string `json:"workerConfigurationArn"`
	Revision               int64  `json:"revision"`
}

type apacheKafkaCluster struct {
	BootstrapServers string          `json:"bootstrapServers"`
	Vpc              json.RawMessage `json:"vpc,omitempty"`
}

type kafkaCluster struct {
	ApacheKafkaCluster *apacheKafkaCluster `json:"apacheKafkaCluster"`
}

type clientAuth struct {
	AuthenticationType string `json:"authenticationType"`
}

type encryption struct {
	EncryptionType string `json:"encryptionType"`
}

type createConnectorRequest struct {
	Capacity                         *pool.Capacity    `json:"capacity"`
	ConnectorConfiguration           map[string]string `json:"connectorConfiguration"`
	ConnectorDescription             string            `json:"connectorDescription,omitempty"`
	ConnectorName                    string            `json:"connectorName"`
	KafkaCluster                     *kafkaCluster     `json:"kafkaCluster"`
	KafkaClusterClientAuthentication *clientAuth       `json:"kafkaClusterClientAuthentication"`
	KafkaClusterEncryptionInTransit  *encryption       `json:"kafkaClusterEncryptionInTransit"`
	KafkaConnectVersion              string            `json:"kafkaConnectVersion"`
	LogDelivery                      json.RawMessage   `json:"logDelivery,omitempty"`
	NetworkType                      string            `json:"networkType,omitempty"`
	Plugins                          []pluginRef       `json:"plugins"`
	ServiceExecutionRoleArn          string            `json:"serviceExecutionRoleArn"`
	WorkerConfiguration              *workerConfigRef  `json:"workerConfiguration,omitempty"`
	Tags                             map[string]string `json:"tags,omitempty"`
}

// connector is the API's record of one connector (persisted).
type connector struct {
	Arn                              string            `json:"connectorArn"`
	Name                             string            `json:"connectorName"`
	Description                      string            `json:"connectorDescription,omitempty"`
	Created                          time.Time         `json:"creationTime"`
	Version                          int               `json:"version"`
	KafkaCluster                     kafkaCluster      `json:"kafkaCluster"`
	KafkaClusterClientAuthentication clientAuth        `json:"kafkaClusterClientAuthentication"`
	KafkaClusterEncryptionInTransit  encryption        `json:"kafkaClusterEncryptionInTransit"`
	KafkaConnectVersion              string            `json:"kafkaConnectVersion"`
	LogDelivery                      json.RawMessage   `json:"logDelivery,omitempty"`
	NetworkType                      string            `json:"networkType"`
	Plugins                          []pluginRef       `json:"plugins"`
	ServiceExecutionRoleArn          string            `json:"serviceExecutionRoleArn"`
	WorkerConfiguration              *workerConfigRef  `json:"workerConfiguration,omitempty"`
	Deleting                         bool              `json:"deleting,omitempty"`
	LastConfig                       map[string]string `json:"lastConfig,omitempty"`
	LastCapacity                     pool.Capacity     `json:"lastCapacity"`
}

// connectorSummary is ListConnectors' ConnectorSummary; describe adds
// connectorConfiguration and stateDescription.
type connectorSummary struct {
	Capacity                         pool.Capacity          `json:"capacity"`
	ConnectorArn                     string                 `json:"connectorArn"`
	ConnectorConfiguration           map[string]string      `json:"connectorConfiguration,omitempty"`
	ConnectorDescription             string                 `json:"connectorDescription,omitempty"`
	ConnectorName                    string                 `json:"connectorName"`
	ConnectorState                   pool.ConnectorState    `json:"connectorState"`
	CreationTime                     string                 `json:"creationTime"`
	CurrentVersion                   string                 `json:"currentVersion"`
	KafkaCluster                     kafkaCluster           `json:"kafkaCluster"`
	KafkaClusterClientAuthentication clientAuth             `json:"kafkaClusterClientAuthentication"`
	KafkaClusterEncryptionInTransit  encryption             `json:"kafkaClusterEncryptionInTransit"`
	KafkaConnectVersion              string                 `json:"kafkaConnectVersion"`
	LogDelivery                      json.RawMessage        `json:"logDelivery,omitempty"`
	NetworkType                      string                 `json:"networkType,omitempty"`
	Plugins                          []pluginRef            `json:"plugins"`
	ServiceExecutionRoleArn          string                 `json:"serviceExecutionRoleArn"`
	StateDescription                 *pool.StateDescription `json:"stateDescription,omitempty"`
	WorkerConfiguration              *workerConfigRef       `json:"workerConfiguration,omitempty"`
}

type s3Location struct {
	BucketArn     string `json:"bucketArn"`
	FileKey       string `json:"fileKey"`
	ObjectVersion string `json:"objectVersion,omitempty"`
}

type pluginLocation struct {
	S3Location *s3Location `json:"s3Location"`
}

// customPlugin is the API's record of a custom plugin (persisted).
type customPlugin struct {
	Arn         string         `json:"customPluginArn"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	ContentType string         `json:"contentType"`
	Location    pluginLocation `json:"location"`
	Created     time.Time      `json:"creationTime"`
}

// workerConfiguration is the API's record of a worker configuration.
type workerConfiguration struct {
	Arn         string    `json:"workerConfigurationArn"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Properties  string    `json:"propertiesFileContent"`
	Created     time.Time `json:"creationTime"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
