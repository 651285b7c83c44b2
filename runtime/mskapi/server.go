package mskapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/pool"
)

const maxBody = 4 << 20

// Server serves the MSK Connect API (and the `aws kafka` cluster
// operations) over a Backend. It is an http.Handler.
type Server struct {
	backend Backend
	region  string
	account string
	cluster Cluster
	creds   map[string]string // access key id → secret; nil accepts any request
	state   string            // persistence file; "" keeps state in memory
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	conns    map[string]*connector // by name
	plugins  map[string]*customPlugin
	wcs      map[string]*workerConfiguration
	tags     map[string]map[string]string // by ARN
	clusterU string
}

// Option configures a Server.
type Option func(*Server)

// WithRegion sets the region in ARNs (default us-east-1).
func WithRegion(r string) Option { return func(s *Server) { s.region = r } }

// WithAccount sets the account id in ARNs (default 000000000000).
func WithAccount(a string) Option { return func(s *Server) { s.account = a } }

// WithCluster describes the bundled broker for `aws kafka`.
func WithCluster(c Cluster) Option { return func(s *Server) { s.cluster = c } }

// WithCredentials makes the server verify SigV4 signatures against these
// access key id → secret access key pairs. Without it every request is
// accepted, signed or not.
func WithCredentials(c map[string]string) Option {
	return func(s *Server) { s.creds = maps.Clone(c) }
}

// WithStateFile persists the API's metadata (ARNs, versions, plugins,
// worker configurations, tags) in a JSON file, loaded by New.
func WithStateFile(path string) Option { return func(s *Server) { s.state = path } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a server over the backend.
func New(b Backend, opts ...Option) (*Server, error) {
	s := &Server{backend: b, region: "us-east-1", account: "000000000000", log: slog.Default(), now: time.Now,
		conns: map[string]*connector{}, plugins: map[string]*customPlugin{}, wcs: map[string]*workerConfiguration{},
		tags: map[string]map[string]string{}, cluster: Cluster{Name: "sluice", Brokers: 1}}
	for _, o := range opts {
		o(s)
	}
	if s.state != "" {
		if err := s.load(); err != nil {
			return nil, fmt.Errorf("mskapi: state %s: %w", s.state, err)
		}
	}
	if s.clusterU == "" {
		s.clusterU = newUUID()
	}
	return s, nil
}

type stateFile struct {
	Connectors    map[string]*connector           `json:"connectors"`
	Plugins       map[string]*customPlugin        `json:"customPlugins"`
	WorkerConfigs map[string]*workerConfiguration `json:"workerConfigurations"`
	Tags          map[string]map[string]string    `json:"tags"`
	ClusterUUID   string                          `json:"clusterUuid"`
}

func (s *Server) load() error {
	b, err := os.ReadFile(s.state)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	for k, v := range f.Connectors {
		s.conns[k] = v
	}
	for k, v := range f.Plugins {
		s.plugins[k] = v
	}
	for k, v := range f.WorkerConfigs {
		s.wcs[k] = v
	}
	for k, v := range f.Tags {
		s.tags[k] = v
	}
	s.clusterU = f.ClusterUUID
	return nil
}

// saveLocked writes the state file; s.mu is held.
func (s *Server) saveLocked() {
	if s.state == "" {
		return
	}
	b, err := json.MarshalIndent(stateFile{s.conns, s.plugins, s.wcs, s.tags, s.clusterU}, "", "  ")
	if err == nil {
		err = os.WriteFile(s.state+".tmp", b, 0o600)
	}
	if err == nil {
		err = os.Rename(s.state+".tmp", s.state)
	}
	if err != nil {
		s.log.Error("mskapi: saving state", "file", s.state, "err", err)
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) arn(service, kind, name string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s/%s", service, s.region, s.account, kind, name, newUUID())
}

// ClusterArn is the bundled broker's cluster ARN.
func (s *Server) ClusterArn() string {
	return fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s", s.region, s.account, s.cluster.Name, s.clusterU)
}

// ServeHTTP routes MSK Connect and MSK requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.creds != nil {
		if e := s.verifySigV4(r); e != nil {
			writeError(w, e)
			return
		}
	}
	var seg []string
	for _, p := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			writeError(w, badRequest("path segment %q: %v", p, err))
			return
		}
		seg = append(seg, u)
	}
	var status int
	var out any
	var e *Error
	route := r.Method + " " + strings.Join(pattern(seg), "/")
	switch route {
	case "POST v1/connectors":
		status, out, e = s.createConnector(r)
	case "GET v1/connectors":
		out, e = s.listConnectors(r)
	case "GET v1/connectors/*":
		out, e = s.describeConnector(seg[2])
	case "PUT v1/connectors/*":
		out, e = s.updateConnector(r, seg[2])
	case "DELETE v1/connectors/*":
		out, e = s.deleteConnector(r, seg[2])
	case "GET v1/connectors/*/operations":
		out, e = s.listOperations(r, seg[2])
	case "GET v1/connectorOperations/*":
		out, e = s.describeOperation(seg[2])
	case "POST v1/custom-plugins":
		out, e = s.createPlugin(r)
	case "GET v1/custom-plugins":
		out, e = s.listPlugins(r)
	case "GET v1/custom-plugins/*":
		out, e = s.describePlugin(seg[2])
	case "DELETE v1/custom-plugins/*":
		out, e = s.deletePlugin(seg[2])
	case "POST v1/worker-configurations":
		out, e = s.createWorkerConfig(r)
	case "GET v1/worker-configurations":
		out, e = s.listWorkerConfigs(r)
	case "GET v1/worker-configurations/*":
		out, e = s.describeWorkerConfig(seg[2])
	case "DELETE v1/worker-configurations/*":
		out, e = s.deleteWorkerConfig(seg[2])
	case "POST v1/tags/*":
		out, e = s.tagResource(r, seg[2])
	case "DELETE v1/tags/*":
		out, e = s.untagResource(r, seg[2])
	case "GET v1/tags/*":
		out, e = s.listTags(seg[2])
	case "GET api/v2/clusters":
		out = map[string]any{"clusterInfoList": []any{s.clusterInfo()}}
	case "GET api/v2/clusters/*":
		if seg[3] != s.ClusterArn() {
			e = notFound("cluster %s not found", seg[3])
		} else {
			out = map[string]any{"clusterInfo": s.clusterInfo()}
		}
	case "GET v1/clusters/*/bootstrap-brokers":
		if seg[2] != s.ClusterArn() {
			e = notFound("cluster %s not found", seg[2])
		} else {
			out = map[string]any{"bootstrapBrokerString": s.cluster.Bootstrap}
		}
	default:
		e = notFound("no MSK Connect operation %s %s", r.Method, r.URL.Path)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

// pattern replaces the ARN segments of a path with "*".
func pattern(seg []string) []string {
	p := slices.Clone(seg)
	switch {
	case len(p) >= 3 && p[0] == "v1":
		p[2] = "*"
	case len(p) == 4 && p[0] == "api":
		p[3] = "*"
	}
	return p
}

func decodeBody(r *http.Request, v any) *Error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// page applies maxResults/nextToken to names sorted ascending; the token is
// the last name returned, base64url-encoded.
func page(r *http.Request, names []string) ([]string, string, *Error) {
	slices.Sort(names)
	q := r.URL.Query()
	max := 100
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, "", badRequest("maxResults %q must be between 1 and 100", v)
		}
		max = n
	}
	if t := q.Get("nextToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return nil, "", badRequest("nextToken %q is not a token this API returned", t)
		}
		i, _ := slices.BinarySearch(names, string(b))
		for i < len(names) && names[i] <= string(b) {
			i++
		}
		names = names[i:]
	}
	next := ""
	if len(names) > max {
		names = names[:max]
		next = base64.RawURLEncoding.EncodeToString([]byte(names[max-1]))
	}
	return names, next, nil
}

func withNext(m map[string]any, next string) map[string]any {
	if next != "" {
		m["nextToken"] = next
	}
	return m
}

// ---- connectors ----

func (s *Server) createConnector(r *http.Request) (int, any, *Error) {
	var req createConnectorRequest
	if e := decodeBody(r, &req); e != nil {
		return 0, nil, e
	}
	switch {
	case req.ConnectorName == "" || len(req.ConnectorName) > 128:
		return 0, nil, badRequest("connectorName must be 1 to 128 characters")
	case strings.ContainsAny(req.ConnectorName, "/ "):
		return 0, nil, badRequest("connectorName %q must not contain '/' or spaces", req.ConnectorName)
	case len(req.ConnectorDescription) > 1024:
		return 0, nil, badRequest("connectorDescription must be at most 1024 characters")
	case req.Capacity == nil:
		return 0, nil, badRequest("capacity is required")
	case len(req.ConnectorConfiguration) == 0:
		return 0, nil, badRequest("connectorConfiguration is required")
	case req.ConnectorConfiguration["connector.class"] == "":
		return 0, nil, badRequest("connectorConfiguration must set connector.class")
	case req.KafkaCluster == nil || req.KafkaCluster.ApacheKafkaCluster == nil || req.KafkaCluster.ApacheKafkaCluster.BootstrapServers == "":
		return 0, nil, badRequest("kafkaCluster.apacheKafkaCluster.bootstrapServers is required")
	case req.KafkaClusterClientAuthentication == nil:
		return 0, nil, badRequest("kafkaClusterClientAuthentication is required")
	case req.KafkaClusterEncryptionInTransit == nil:
		return 0, nil, badRequest("kafkaClusterEncryptionInTransit is required")
	case req.KafkaConnectVersion == "":
		return 0, nil, badRequest("kafkaConnectVersion is required")
	case req.ServiceExecutionRoleArn == "":
		return 0, nil, badRequest("serviceExecutionRoleArn is required")
	case len(req.Plugins) != 1 || req.Plugins[0].CustomPlugin == nil:
		return 0, nil, badRequest("plugins must hold exactly one customPlugin")
	}
	if err := req.Capacity.Validate(); err != nil {
		return 0, nil, badRequest("capacity: %v", err)
	}
	if a := req.KafkaClusterClientAuthentication.AuthenticationType; a != "NONE" && a != "IAM" {
		return 0, nil, badRequest("kafkaClusterClientAuthentication.authenticationType %q must be NONE or IAM", a)
	}
	if t := req.KafkaClusterEncryptionInTransit.EncryptionType; t != "PLAINTEXT" && t != "TLS" {
		return 0, nil, badRequest("kafkaClusterEncryptionInTransit.encryptionType %q must be PLAINTEXT or TLS", t)
	}
	if req.NetworkType == "" {
		req.NetworkType = "IPV4"
	} else if req.NetworkType != "IPV4" && req.NetworkType != "DUAL" {
		return 0, nil, badRequest("networkType %q must be IPV4 or DUAL", req.NetworkType)
	}
	// The bundled broker's cluster ARN resolves to its bootstrap servers.
	if bs := req.KafkaCluster.ApacheKafkaCluster.BootstrapServers; bs == s.ClusterArn() {
		req.KafkaCluster.ApacheKafkaCluster.BootstrapServers = s.cluster.Bootstrap
	} else if strings.HasPrefix(bs, "arn:") {
		return 0, nil, notFound("kafkaCluster.apacheKafkaCluster.bootstrapServers: cluster %s not found", bs)
	}
	s.mu.Lock()
	_, dup := s.conns[req.ConnectorName]
	plug := s.pluginByArnLocked(req.Plugins[0].CustomPlugin.CustomPluginArn)
	var wc *workerConfiguration
	if req.WorkerConfiguration != nil {
		wc = s.wcByArnLocked(req.WorkerConfiguration.WorkerConfigurationArn)
	}
	s.mu.Unlock()
	switch {
	case dup:
		return 0, nil, conflict("a connector named %s already exists", req.ConnectorName)
	case plug == nil:
		return 0, nil, notFound("custom plugin %s not found", req.Plugins[0].CustomPlugin.CustomPluginArn)
	case req.Plugins[0].CustomPlugin.Revision != 1:
		return 0, nil, notFound("custom plugin %s has no revision %d (sluice plugins have revision 1)", plug.Arn, req.Plugins[0].CustomPlugin.Revision)
	case req.WorkerConfiguration != nil && wc == nil:
		return 0, nil, notFound("worker configuration %s not found", req.WorkerConfiguration.WorkerConfigurationArn)
	}
	c := &connector{Arn: s.arn("kafkaconnect", "connector", req.ConnectorName), Name: req.ConnectorName,
		Description: req.ConnectorDescription, Created: s.now().UTC(), Version: 1, KafkaCluster: *req.KafkaCluster,
		KafkaClusterClientAuthentication: *req.KafkaClusterClientAuthentication, KafkaClusterEncryptionInTransit: *req.KafkaClusterEncryptionInTransit,
		KafkaConnectVersion: req.KafkaConnectVersion, LogDelivery: req.LogDelivery, NetworkType: req.NetworkType,
		Plugins: req.Plugins, ServiceExecutionRoleArn: req.ServiceExecutionRoleArn, WorkerConfiguration: req.WorkerConfiguration,
		LastConfig: maps.Clone(req.ConnectorConfiguration), LastCapacity: *req.Capacity}
	var workerProps map[string]string
	if wc != nil {
		workerProps, _ = ParseWorkerProperties(wc.Properties) // validated when the configuration was created
	}
	if err := s.backend.CreateConnector(r.Context(), req.ConnectorName, withDefaults(req.ConnectorConfiguration, wc), *req.Capacity, workerProps); err != nil {
		if errors.Is(err, ErrExists) {
			return 0, nil, conflict("a connector named %s already exists", req.ConnectorName)
		}
		return 0, nil, badRequest("%v", err)
	}
	s.mu.Lock()
	s.conns[c.Name] = c
	if len(req.Tags) > 0 {
		s.tags[c.Arn] = maps.Clone(req.Tags)
	}
	s.saveLocked()
	s.mu.Unlock()
	return http.StatusOK, map[string]any{"connectorArn": c.Arn, "connectorName": c.Name, "connectorState": pool.StateCreating}, nil
}

// connByArn finds a connector by ARN, dropping it once a delete has
// finished.
func (s *Server) connByArn(arn string) (*connector, ConnectorStatus, *Error) {
	s.mu.Lock()
	var c *connector
	for _, x := range s.conns {
		if x.Arn == arn {
			c = x
		}
	}
	s.mu.Unlock()
	if c == nil {
		return nil, ConnectorStatus{}, notFound("connector %s not found", arn)
	}
	st, ok := s.backend.Connector(c.Name)
	if !ok {
		if c.Deleting {
			s.mu.Lock()
			delete(s.conns, c.Name)
			delete(s.tags, c.Arn)
			s.saveLocked()
			s.mu.Unlock()
			return nil, ConnectorStatus{}, notFound("connector %s not found", arn)
		}
		// The pool is gone without a delete through this API (e.g.
		// removed by the Kafka Connect REST API): report it failed.
		st = ConnectorStatus{State: pool.StateFailed, Capacity: c.LastCapacity, Config: c.LastConfig,
			StateDescription: pool.StateDescription{Code: "NotRunning", Message: "the connector's worker pool is not running"}}
	}
	if c.Deleting {
		st.State = pool.StateDeleting
	}
	return c, st, nil
}

func (s *Server) summary(c *connector, st ConnectorStatus, full bool) connectorSummary {
	out := connectorSummary{Capacity: st.Capacity, ConnectorArn: c.Arn, ConnectorDescription: c.Description,
		ConnectorName: c.Name, ConnectorState: st.State, CreationTime: isoTime(c.Created), CurrentVersion: strconv.Itoa(c.Version),
		KafkaCluster: c.KafkaCluster, KafkaClusterClientAuthentication: c.KafkaClusterClientAuthentication,
		KafkaClusterEncryptionInTransit: c.KafkaClusterEncryptionInTransit, KafkaConnectVersion: c.KafkaConnectVersion,
		LogDelivery: c.LogDelivery, NetworkType: c.NetworkType, Plugins: c.Plugins, ServiceExecutionRoleArn: c.ServiceExecutionRoleArn,
		WorkerConfiguration: c.WorkerConfiguration}
	if full {
		out.ConnectorConfiguration = maps.Clone(st.Config)
		if out.ConnectorConfiguration == nil {
			out.ConnectorConfiguration = map[string]string{}
		}
		delete(out.ConnectorConfiguration, "name")
		// Hide the converters the worker configuration supplied.
		s.mu.Lock()
		if c.WorkerConfiguration != nil {
			if wc := s.wcByArnLocked(c.WorkerConfiguration.WorkerConfigurationArn); wc != nil {
				props, _ := ParseWorkerProperties(wc.Properties)
				for k, v := range converterDefaults(props) {
					if _, mine := c.LastConfig[k]; !mine && out.ConnectorConfiguration[k] == v {
						delete(out.ConnectorConfiguration, k)
					}
				}
			}
		}
		s.mu.Unlock()
		if st.StateDescription != (pool.StateDescription{}) {
			d := st.StateDescription
			out.StateDescription = &d
		}
	}
	return out
}

func (s *Server) describeConnector(arn string) (any, *Error) {
	c, st, e := s.connByArn(arn)
	if e != nil {
		return nil, e
	}
	return s.summary(c, st, true), nil
}

func (s *Server) listConnectors(r *http.Request) (any, *Error) {
	prefix := r.URL.Query().Get("connectorNamePrefix")
	s.mu.Lock()
	var names []string
	arns := map[string]string{}
	for n, c := range s.conns {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
			arns[n] = c.Arn
		}
	}
	s.mu.Unlock()
	names, next, e := page(r, names)
	if e != nil {
		return nil, e
	}
	list := []connectorSummary{}
	for _, n := range names {
		c, st, e := s.connByArn(arns[n])
		if e != nil {
			continue // deleted meanwhile
		}
		list = append(list, s.summary(c, st, false))
	}
	return withNext(map[string]any{"connectors": list}, next), nil
}

// opArn is the ARN of one of c's operations. Pool operation ids are
// "<connector>-operation-<n>"; the ARN ends in "operation-<n>".
func (s *Server) opArn(c *connector, opID string) string {
	seq := opID
	if i := strings.LastIndex(opID, "operation-"); i >= 0 {
		seq = opID[i:]
	}
	return strings.Replace(c.Arn, ":connector/", ":connector-operation/", 1) + "/" + seq
}

func (s *Server) updateConnector(r *http.Request, arn string) (any, *Error) {
	var req struct {
		Capacity               *pool.Capacity    `json:"capacity"`
		ConnectorConfiguration map[string]string `json:"connectorConfiguration"`
		SkipHealthValidation   *bool             `json:"skipHealthValidation"`
	}
	if e := decodeBody(r, &req); e != nil {
		return nil, e
	}
	ver := r.URL.Query().Get("currentVersion")
	switch {
	case ver == "":
		return nil, badRequest("currentVersion is required")
	case req.Capacity != nil && req.ConnectorConfiguration != nil:
		return nil, badRequest("specify only one of capacity or connectorConfiguration")
	case req.Capacity == nil && req.ConnectorConfiguration == nil:
		return nil, badRequest("specify one of capacity or connectorConfiguration")
	}
	c, st, e := s.connByArn(arn)
	if e != nil {
		return nil, e
	}
	if c.Deleting {
		return nil, conflict("connector %s is DELETING", c.Name)
	}
	s.mu.Lock()
	cur := strconv.Itoa(c.Version)
	s.mu.Unlock()
	if ver != cur {
		return nil, conflict("currentVersion %s is not the connector's current version %s: describe the connector and retry", ver, cur)
	}
	var id string
	var err error
	if req.Capacity != nil {
		if a := req.Capacity.AutoScaling; a != nil && (a.ScaleInPolicy == nil || a.ScaleOutPolicy == nil) {
			return nil, badRequest("capacity.autoScaling: scaleInPolicy and scaleOutPolicy are required in an update")
		}
		if err := req.Capacity.Validate(); err != nil {
			return nil, badRequest("capacity: %v", err)
		}
		id, err = s.backend.UpdateCapacity(r.Context(), c.Name, *req.Capacity)
	} else {
		if cls := req.ConnectorConfiguration["connector.class"]; cls != st.Config["connector.class"] {
			return nil, badRequest("connectorConfiguration: connector.class cannot be changed (%q → %q)", st.Config["connector.class"], cls)
		}
		s.mu.Lock()
		var wc *workerConfiguration
		if c.WorkerConfiguration != nil {
			wc = s.wcByArnLocked(c.WorkerConfiguration.WorkerConfigurationArn)
		}
		s.mu.Unlock()
		id, err = s.backend.UpdateConfig(r.Context(), c.Name, withDefaults(req.ConnectorConfiguration, wc))
	}
	if err != nil {
		return nil, badRequest("%v", err)
	}
	s.mu.Lock()
	c.Version++
	if req.Capacity != nil {
		c.LastCapacity = *req.Capacity
	} else {
		c.LastConfig = maps.Clone(req.ConnectorConfiguration)
	}
	s.saveLocked()
	s.mu.Unlock()
	return map[string]any{"connectorArn": c.Arn, "connectorState": pool.StateUpdating, "connectorOperationArn": s.opArn(c, id)}, nil
}

func (s *Server) deleteConnector(r *http.Request, arn string) (any, *Error) {
	c, _, e := s.connByArn(arn)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	cur := strconv.Itoa(c.Version)
	s.mu.Unlock()
	if v := r.URL.Query().Get("currentVersion"); v != "" && v != cur {
		return nil, conflict("currentVersion %s is not the connector's current version %s", v, cur)
	}
	if _, running := s.backend.Connector(c.Name); running {
		if err := s.backend.DeleteConnector(r.Context(), c.Name); err != nil {
			return nil, internal(err)
		}
	} // else its pool is already gone: only the record remains, dropped below
	// on the next look-up.
	s.mu.Lock()
	c.Deleting = true
	s.saveLocked()
	s.mu.Unlock()
	return map[string]any{"connectorArn": c.Arn, "connectorState": pool.StateDeleting}, nil
}

type operationSummary struct {
	ConnectorOperationArn   string              `json:"connectorOperationArn"`
	ConnectorOperationType  pool.OperationType  `json:"connectorOperationType"`
	ConnectorOperationState pool.OperationState `json:"connectorOperationState"`
	CreationTime            string              `json:"creationTime"`
	EndTime                 string              `json:"endTime,omitempty"`
}

func (s *Server) opSummary(c *connector, op pool.Operation) operationSummary {
	o := operationSummary{ConnectorOperationArn: s.opArn(c, op.ID), ConnectorOperationType: op.Type,
		ConnectorOperationState: op.State, CreationTime: isoTime(op.Created)}
	if !op.Ended.IsZero() {
		o.EndTime = isoTime(op.Ended)
	}
	return o
}

func (s *Server) listOperations(r *http.Request, arn string) (any, *Error) {
	c, _, e := s.connByArn(arn)
	if e != nil {
		return nil, e
	}
	ops := s.backend.Operations(c.Name)
	byKey := map[string]pool.Operation{}
	var keys []string
	for _, op := range ops {
		// Zero-padded sequence keys keep creation order under page's sort.
		_, seq, _ := strings.Cut(op.ID, "operation-")
		n, _ := strconv.Atoi(seq)
		k := fmt.Sprintf("%010d", n)
		keys = append(keys, k)
		byKey[k] = op
	}
	keys, next, e := page(r, keys)
	if e != nil {
		return nil, e
	}
	list := []operationSummary{}
	for _, k := range keys {
		list = append(list, s.opSummary(c, byKey[k]))
	}
	return withNext(map[string]any{"connectorOperations": list}, next), nil
}

type workerSetting struct {
	Capacity pool.Capacity `json:"capacity"`
}

func (s *Server) describeOperation(arn string) (any, *Error) {
	rest, ok := strings.CutPrefix(arn, fmt.Sprintf("arn:aws:kafkaconnect:%s:%s:connector-operation/", s.region, s.account))
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 {
		return nil, notFound("connector operation %s not found", arn)
	}
	connArn := fmt.Sprintf("arn:aws:kafkaconnect:%s:%s:connector/%s/%s", s.region, s.account, parts[0], parts[1])
	c, _, e := s.connByArn(connArn)
	if e != nil {
		return nil, notFound("connector operation %s not found", arn)
	}
	for _, op := range s.backend.Operations(c.Name) {
		if s.opArn(c, op.ID) != arn {
			continue
		}
		out := map[string]any{
			"connectorArn": c.Arn, "connectorOperationArn": arn, "connectorOperationState": op.State,
			"connectorOperationType": op.Type, "operationSteps": op.Steps, "creationTime": isoTime(op.Created),
		}
		if op.Steps == nil {
			out["operationSteps"] = []pool.Step{}
		}
		if !op.Ended.IsZero() {
			out["endTime"] = isoTime(op.Ended)
		}
		if op.Origin != nil {
			out["originWorkerSetting"] = workerSetting{op.Origin.Capacity}
		}
		if op.Target != nil {
			out["targetWorkerSetting"] = workerSetting{op.Target.Capacity}
		}
		if op.OriginConfig != nil {
			out["originConnectorConfiguration"] = op.OriginConfig
		}
		if op.TargetConfig != nil {
			out["targetConnectorConfiguration"] = op.TargetConfig
		}
		if op.ErrorInfo != nil {
			out["errorInfo"] = op.ErrorInfo
		}
		return out, nil
	}
	return nil, notFound("connector operation %s not found", arn)
}

// ---- custom plugins ----

func (s *Server) pluginByArnLocked(arn string) *customPlugin {
	for _, p := range s.plugins {
		if p.Arn == arn {
			return p
		}
	}
	return nil
}

func (s *Server) createPlugin(r *http.Request) (any, *Error) {
	var req struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		ContentType string            `json:"contentType"`
		Location    *pluginLocation   `json:"location"`
		Tags        map[string]string `json:"tags"`
	}
	if e := decodeBody(r, &req); e != nil {
		return nil, e
	}
	switch {
	case req.Name == "" || len(req.Name) > 128 || strings.ContainsAny(req.Name, "/ "):
		return nil, badRequest("name must be 1 to 128 characters without '/' or spaces")
	case len(req.Description) > 1024:
		return nil, badRequest("description must be at most 1024 characters")
	case req.ContentType != "JAR" && req.ContentType != "ZIP":
		return nil, badRequest("contentType %q must be JAR or ZIP", req.ContentType)
	case req.Location == nil || req.Location.S3Location == nil || req.Location.S3Location.BucketArn == "" || req.Location.S3Location.FileKey == "":
		return nil, badRequest("location.s3Location.bucketArn and fileKey are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.plugins[req.Name]; ok {
		return nil, conflict("a custom plugin named %s already exists", req.Name)
	}
	p := &customPlugin{Arn: s.arn("kafkaconnect", "custom-plugin", req.Name), Name: req.Name, Description: req.Description,
		ContentType: req.ContentType, Location: *req.Location, Created: s.now().UTC()}
	s.plugins[p.Name] = p
	if len(req.Tags) > 0 {
		s.tags[p.Arn] = maps.Clone(req.Tags)
	}
	s.saveLocked()
	return map[string]any{"customPluginArn": p.Arn, "customPluginState": "ACTIVE", "name": p.Name, "revision": 1}, nil
}

func (s *Server) pluginOut(p *customPlugin) map[string]any {
	return map[string]any{
		"creationTime": isoTime(p.Created), "customPluginArn": p.Arn, "customPluginState": "ACTIVE",
		"description": p.Description, "name": p.Name,
		"latestRevision": map[string]any{"contentType": p.ContentType, "creationTime": isoTime(p.Created),
			"description": p.Description, "location": p.Location, "revision": 1},
	}
}

func (s *Server) describePlugin(arn string) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pluginByArnLocked(arn)
	if p == nil {
		return nil, notFound("custom plugin %s not found", arn)
	}
	return s.pluginOut(p), nil
}

func (s *Server) listPlugins(r *http.Request) (any, *Error) {
	prefix := r.URL.Query().Get("namePrefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	names, next, e := page(r, namesWithPrefix(s.plugins, prefix))
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, n := range names {
		list = append(list, s.pluginOut(s.plugins[n]))
	}
	return withNext(map[string]any{"customPlugins": list}, next), nil
}

func (s *Server) deletePlugin(arn string) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pluginByArnLocked(arn)
	if p == nil {
		return nil, notFound("custom plugin %s not found", arn)
	}
	for _, c := range s.conns {
		if len(c.Plugins) == 1 && c.Plugins[0].CustomPlugin.CustomPluginArn == arn {
			return nil, conflict("custom plugin %s is used by connector %s", p.Name, c.Name)
		}
	}
	delete(s.plugins, p.Name)
	delete(s.tags, arn)
	s.saveLocked()
	return map[string]any{"customPluginArn": arn, "customPluginState": "DELETING"}, nil
}

// ---- worker configurations ----

func (s *Server) wcByArnLocked(arn string) *workerConfiguration {
	for _, w := range s.wcs {
		if w.Arn == arn {
			return w
		}
	}
	return nil
}

func (s *Server) createWorkerConfig(r *http.Request) (any, *Error) {
	var req struct {
		Name                  string            `json:"name"`
		Description           string            `json:"description"`
		PropertiesFileContent string            `json:"propertiesFileContent"`
		Tags                  map[string]string `json:"tags"`
	}
	if e := decodeBody(r, &req); e != nil {
		return nil, e
	}
	if req.Name == "" || len(req.Name) > 128 || strings.ContainsAny(req.Name, "/ ") {
		return nil, badRequest("name must be 1 to 128 characters without '/' or spaces")
	}
	if _, err := ParseWorkerProperties(req.PropertiesFileContent); err != nil {
		return nil, badRequest("propertiesFileContent: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.wcs[req.Name]; ok {
		return nil, conflict("a worker configuration named %s already exists", req.Name)
	}
	wc := &workerConfiguration{Arn: s.arn("kafkaconnect", "worker-configuration", req.Name), Name: req.Name,
		Description: req.Description, Properties: req.PropertiesFileContent, Created: s.now().UTC()}
	s.wcs[wc.Name] = wc
	if len(req.Tags) > 0 {
		s.tags[wc.Arn] = maps.Clone(req.Tags)
	}
	s.saveLocked()
	return s.wcOut(wc, false), nil
}

// converterDefaults picks the worker properties a connector inherits and
// may override in Kafka Connect: its key, value and header converters and
// their settings.
func converterDefaults(props map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		for _, p := range []string{"key.converter", "value.converter", "header.converter"} {
			if k == p || strings.HasPrefix(k, p+".") {
				out[k] = v
			}
		}
	}
	return out
}

// withDefaults returns the connector config with the worker
// configuration's converters where the config sets none.
func withDefaults(cfg map[string]string, wc *workerConfiguration) map[string]string {
	out := maps.Clone(cfg)
	if wc == nil {
		return out
	}
	props, _ := ParseWorkerProperties(wc.Properties)
	for k, v := range converterDefaults(props) {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// ParseWorkerProperties decodes a base64 connect-distributed.properties
// file into its key=value pairs, rejecting the keys MSK Connect owns.
func ParseWorkerProperties(b64 string) (map[string]string, error) {
	if b64 == "" {
		return nil, errors.New("is required")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("not base64: %v", err)
	}
	props := map[string]string{}
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d %q is not key=value", i+1, line)
		}
		k = strings.TrimSpace(k)
		switch {
		case k == "group.id", k == "bootstrap.servers", strings.HasSuffix(k, ".storage.topic"), k == "scheduled.rebalance.max.delay.ms":
			return nil, fmt.Errorf("line %d: %s cannot be set in a worker configuration", i+1, k)
		}
		props[k] = strings.TrimSpace(v)
	}
	return props, nil
}

func (s *Server) wcOut(wc *workerConfiguration, withProps bool) map[string]any {
	rev := map[string]any{"creationTime": isoTime(wc.Created), "description": wc.Description, "revision": 1}
	if withProps {
		rev["propertiesFileContent"] = wc.Properties
	}
	out := map[string]any{"creationTime": isoTime(wc.Created), "latestRevision": rev, "name": wc.Name,
		"workerConfigurationArn": wc.Arn, "workerConfigurationState": "ACTIVE"}
	if withProps || wc.Description != "" {
		out["description"] = wc.Description
	}
	return out
}

func (s *Server) describeWorkerConfig(arn string) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wc := s.wcByArnLocked(arn)
	if wc == nil {
		return nil, notFound("worker configuration %s not found", arn)
	}
	return s.wcOut(wc, true), nil
}

func (s *Server) listWorkerConfigs(r *http.Request) (any, *Error) {
	prefix := r.URL.Query().Get("namePrefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	names, next, e := page(r, namesWithPrefix(s.wcs, prefix))
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, n := range names {
		list = append(list, s.wcOut(s.wcs[n], false))
	}
	return withNext(map[string]any{"workerConfigurations": list}, next), nil
}

func (s *Server) deleteWorkerConfig(arn string) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wc := s.wcByArnLocked(arn)
	if wc == nil {
		return nil, notFound("worker configuration %s not found", arn)
	}
	for _, c := range s.conns {
		if c.WorkerConfiguration != nil && c.WorkerConfiguration.WorkerConfigurationArn == arn {
			return nil, conflict("worker configuration %s is used by connector %s", wc.Name, c.Name)
		}
	}
	delete(s.wcs, wc.Name)
	delete(s.tags, arn)
	s.saveLocked()
	return map[string]any{"workerConfigurationArn": arn, "workerConfigurationState": "DELETING"}, nil
}

// ---- tags ----

func (s *Server) resourceExistsLocked(arn string) bool {
	for _, c := range s.conns {
		if c.Arn == arn {
			return true
		}
	}
	return s.pluginByArnLocked(arn) != nil || s.wcByArnLocked(arn) != nil
}

func (s *Server) tagResource(r *http.Request, arn string) (any, *Error) {
	var req struct {
		Tags map[string]string `json:"tags"`
	}
	if e := decodeBody(r, &req); e != nil {
		return nil, e
	}
	if len(req.Tags) == 0 {
		return nil, badRequest("tags is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.resourceExistsLocked(arn) {
		return nil, notFound("resource %s not found", arn)
	}
	t := s.tags[arn]
	if t == nil {
		t = map[string]string{}
		s.tags[arn] = t
	}
	maps.Copy(t, req.Tags)
	if len(t) > 200 {
		return nil, badRequest("a resource can have at most 200 tags")
	}
	s.saveLocked()
	return map[string]any{}, nil
}

func (s *Server) untagResource(r *http.Request, arn string) (any, *Error) {
	keys := r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		return nil, badRequest("tagKeys is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.resourceExistsLocked(arn) {
		return nil, notFound("resource %s not found", arn)
	}
	for _, k := range keys {
		delete(s.tags[arn], k)
	}
	s.saveLocked()
	return map[string]any{}, nil
}

func (s *Server) listTags(arn string) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.resourceExistsLocked(arn) {
		return nil, notFound("resource %s not found", arn)
	}
	t := maps.Clone(s.tags[arn])
	if t == nil {
		t = map[string]string{}
	}
	return map[string]any{"tags": t}, nil
}

// ---- aws kafka ----

func (s *Server) clusterInfo() map[string]any {
	return map[string]any{
		"clusterArn": s.ClusterArn(), "clusterName": s.cluster.Name, "clusterType": "PROVISIONED",
		"state": "ACTIVE", "currentVersion": "1", "tags": map[string]string{},
		"provisioned": map[string]any{
			"numberOfBrokerNodes":       s.cluster.Brokers,
			"currentBrokerSoftwareInfo": map[string]any{"kafkaVersion": "3.7.x"},
			"brokerNodeGroupInfo":       map[string]any{"clientSubnets": []string{}, "instanceType": "sluice"},
			"encryptionInfo":            map[string]any{"encryptionInTransit": map[string]any{"clientBroker": "PLAINTEXT", "inCluster": false}},
		},
	}
}

// namesWithPrefix returns the keys of m that start with prefix (the
// namePrefix filter of the List operations), in no particular order; page
// sorts them.
func namesWithPrefix[V any](m map[string]V, prefix string) []string {
	var names []string
	for n := range m {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names
}
