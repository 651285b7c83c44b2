package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/pool"
)

// capacityConfig is the connector config key where create-connector and
// update-connector store the MSK-style --capacity (compact JSON).
const capacityConfig = "sluice.capacity"

// usageError returns an error that exits with status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// apiFailure returns an error that exits with status 1.
func apiFailure(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 1, err: err}
}

// commonFlags are the flags every connector verb takes.
type commonFlags struct {
	endpoint string
	output   string
	sec      clientSecFlags
}

func addCommonFlags(fs *flag.FlagSet, c *commonFlags) {
	def := os.Getenv("SLUICE_ENDPOINT")
	if def == "" {
		def = defaultEndpoint
	}
	fs.StringVar(&c.endpoint, "endpoint", def, "sluice REST API URL (env SLUICE_ENDPOINT)")
	fs.StringVar(&c.output, "output", "table", "output format: table or json")
	addClientSecFlags(fs, &c.sec)
}

func (c *commonFlags) client() (*client, error) {
	if c.output != "table" && c.output != "json" {
		return nil, usageError("invalid --output %q: want table or json", c.output)
	}
	cl, err := newClient(c.endpoint)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if err := c.sec.apply(cl); err != nil {
		return nil, usageError("%v", err)
	}
	return cl, nil
}

// parseArgs parses flags that may be interleaved with positional
// arguments and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// connectorName picks the name from --connector-name or the single
// positional argument.
// parseNamedVerb parses the flags of a verb that acts on one connector,
// named by --connector-name or a single argument, and returns the API
// client, the common flags and the connector name.
func parseNamedVerb(verb, summary string, args []string, stderr io.Writer) (*client, commonFlags, string, error) {
	fs := newFlagSet(verb, summary, stderr)
	var cf commonFlags
	var name string
	addCommonFlags(fs, &cf)
	fs.StringVar(&name, "connector-name", "", "connector name")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, cf, "", err
	}
	cl, err := cf.client()
	if err != nil {
		return nil, cf, "", err
	}
	if name, err = connectorName(name, pos); err != nil {
		return nil, cf, "", err
	}
	return cl, cf, name, nil
}

func connectorName(flagName string, pos []string) (string, error) {
	switch {
	case len(pos) > 1:
		return "", usageError("too many arguments: %q", pos)
	case len(pos) == 1 && flagName != "" && pos[0] != flagName:
		return "", usageError("connector name given twice: %q and --connector-name %q", pos[0], flagName)
	case len(pos) == 1:
		return pos[0], nil
	case flagName != "":
		return flagName, nil
	}
	return "", usageError("missing connector name: pass --connector-name NAME (or NAME as an argument)")
}

// kvFlag collects repeated --connector-configuration values.
type kvFlag []string

func (k *kvFlag) String() string     { return strings.Join(*k, " ") }
func (k *kvFlag) Set(v string) error { *k = append(*k, v); return nil }

// readArg reads a flag value, or the file it names with file://PATH (as
// the AWS CLI does).
func readArg(flagName, v string) (string, error) {
	if p, ok := strings.CutPrefix(v, "file://"); ok {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", usageError("--%s: %v", flagName, err)
		}
		return string(b), nil
	}
	return v, nil
}

// parseConfiguration parses one --connector-configuration value: a JSON
// object, or k=v pairs separated by commas. A value may contain '=' (the
// first '=' splits key from value) and commas: a comma-separated piece
// that is not key=value continues the previous value, so
// "topics=a,b,tasks.max=2" is {topics: "a,b", tasks.max: "2"}.
func parseConfiguration(s string) (map[string]string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		var raw map[string]any
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("--connector-configuration is not valid JSON: %v", err)
		}
		return stringMap(raw, "--connector-configuration")
	}
	out := map[string]string{}
	last := ""
	for i, seg := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(seg, "=")
		k = strings.TrimSpace(k)
		if ok && isConfigKey(k) {
			out[k] = v
			last = k
			continue
		}
		if last == "" {
			return nil, fmt.Errorf("--connector-configuration: piece %d %q is not key=value", i+1, seg)
		}
		out[last] += "," + seg
	}
	if len(out) == 0 {
		return nil, errors.New("--connector-configuration is empty")
	}
	return out, nil
}

// isConfigKey reports whether k looks like a config key (letters, digits,
// '.', '_', '-').
func isConfigKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// stringMap converts a decoded JSON object to a config, accepting numbers
// and booleans as their text.
func stringMap(raw map[string]any, where string) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("%s: value of %q must be a string, number or boolean, got %s", where, k, jsonType(v))
		}
	}
	return out, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// connectorFile is a connector definition read with --file.
type connectorFile struct {
	name         string
	config       map[string]string
	initialState string
	capacity     json.RawMessage
}

// readConnectorFile reads a Kafka Connect JSON file: {"name":..,"config":{..}}
// or a bare config map (name inside), or an MSK CreateConnector input
// ({"connectorName":..,"connectorConfiguration":{..},"capacity":{..}}).
// "-" reads stdin.
func readConnectorFile(path string) (connectorFile, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return connectorFile{}, usageError("--file: %v", err)
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return connectorFile{}, usageError("--file %s: invalid JSON at byte offset %d: %v", path, se.Offset-1, err)
		}
		return connectorFile{}, usageError("--file %s: expected a JSON object: %v", path, err)
	}
	var cf connectorFile
	str := func(k string) (string, error) {
		v, ok := raw[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", usageError("--file %s: %q must be a string, got %s", path, k, jsonType(v))
		}
		return s, nil
	}
	cfgObj := func(k string) (map[string]string, error) {
		obj, ok := raw[k].(map[string]any)
		if !ok {
			return nil, usageError("--file %s: %q must be an object, got %s", path, k, jsonType(raw[k]))
		}
		m, err := stringMap(obj, "--file "+path+": "+k)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return m, nil
	}
	switch {
	case raw["config"] != nil:
		if cf.config, err = cfgObj("config"); err != nil {
			return cf, err
		}
		if cf.name, err = str("name"); err != nil {
			return cf, err
		}
		if cf.initialState, err = str("initial_state"); err != nil {
			return cf, err
		}
	case raw["connectorConfiguration"] != nil:
		if cf.config, err = cfgObj("connectorConfiguration"); err != nil {
			return cf, err
		}
		if cf.name, err = str("connectorName"); err != nil {
			return cf, err
		}
		if c, ok := raw["capacity"]; ok {
			cf.capacity, _ = json.Marshal(c)
		}
	default:
		m, err := stringMap(raw, "--file "+path)
		if err != nil {
			return cf, usageError("%v (for a {\"name\":..,\"config\":{..}} file, check the \"config\" key)", err)
		}
		cf.config = m
		cf.name = m["name"]
	}
	return cf, nil
}

// Capacity and its parts are runtime/pool's MSK Connect capacity types.
type (
	Capacity            = pool.Capacity
	AutoScaling         = pool.AutoScaling
	ScalingPolicy       = pool.ScalingPolicy
	ProvisionedCapacity = pool.ProvisionedCapacity
)

// parseCapacity parses and validates an MSK-style capacity.
func parseCapacity(s string) (Capacity, error) {
	if t := strings.TrimSpace(s); t != "" && t[0] != '{' { // the AWS CLI's shorthand syntax
		j, err := shorthandJSON(t)
		if err != nil {
			return Capacity{}, fmt.Errorf("--capacity: %v", err)
		}
		s = j
	}
	c, err := pool.ParseCapacity(s)
	if err != nil {
		return c, fmt.Errorf("--capacity: %v", err)
	}
	return c, nil
}

// applyCapacity stores the capacity in the config and applies MSK
// Connect's tasks.max rule: autoscaled capacity overrides tasks.max with
// minWorkerCount x mcuCount x 2 (capped by maxAutoscalingTaskCount; a
// pool rewrites it as it scales), provisioned capacity keeps the
// connector's own tasks.max.
func applyCapacity(cfg map[string]string, c Capacity) {
	b, _ := json.Marshal(c)
	cfg[capacityConfig] = string(b)
	lo, _ := c.Bounds()
	if n, ok := c.TasksMax(lo); ok {
		cfg["tasks.max"] = strconv.Itoa(n)
	}
}

// configSource holds the flags that build a connector config.
type configSource struct {
	file     string
	name     string
	kv       kvFlag
	capacity string
}

func (cs *configSource) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&cs.file, "file", "", "Kafka Connect JSON file: {\"name\":..,\"config\":{..}} or a bare config map with \"name\" inside (\"-\" reads stdin)")
	fs.StringVar(&cs.name, "connector-name", "", "connector name")
	fs.Var(&cs.kv, "connector-configuration", "config as k=v,k2=v2 (values may contain '='; a piece without '=' continues the previous value) or a JSON object; repeatable; file://PATH reads a file")
	fs.StringVar(&cs.capacity, "capacity", "", `MSK-style capacity JSON, e.g. '{"provisionedCapacity":{"mcuCount":1,"workerCount":2}}' or '{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":4,"mcuCount":1}}'; autoscaled capacity sets tasks.max (minWorkerCount x mcuCount x 2, capped by maxAutoscalingTaskCount), provisioned keeps the config's; update-connector with only --capacity resizes a pool`)
}

// build assembles the connector definition from the flags.
func (cs *configSource) build(pos []string) (connectorFile, error) {
	var cf connectorFile
	if cs.file == "" && len(cs.kv) == 0 {
		return cf, usageError("no configuration: pass --file FILE or --connector-configuration k=v,...")
	}
	if cs.file != "" {
		var err error
		if cf, err = readConnectorFile(cs.file); err != nil {
			return cf, err
		}
	}
	if cf.config == nil {
		cf.config = map[string]string{}
	}
	for _, v := range cs.kv {
		v, err := readArg("connector-configuration", v)
		if err != nil {
			return cf, err
		}
		m, err := parseConfiguration(v)
		if err != nil {
			return cf, usageError("%v", err)
		}
		for k, x := range m {
			cf.config[k] = x
		}
	}
	fromFlags := cs.name
	if len(pos) > 1 {
		return cf, usageError("too many arguments: %q", pos)
	}
	if len(pos) == 1 {
		if fromFlags != "" && fromFlags != pos[0] {
			return cf, usageError("connector name given twice: %q and --connector-name %q", pos[0], fromFlags)
		}
		fromFlags = pos[0]
	}
	if fromFlags != "" {
		if cf.name != "" && cf.name != fromFlags {
			return cf, usageError("--connector-name %q differs from the name %q in --file", fromFlags, cf.name)
		}
		cf.name = fromFlags
	}
	if cf.name == "" {
		cf.name = cf.config["name"]
	}
	if cf.name == "" {
		return cf, usageError("missing connector name: pass --connector-name NAME or set \"name\" in the file")
	}
	if n, ok := cf.config["name"]; ok && n != cf.name {
		return cf, usageError("config \"name\" %q differs from the connector name %q", n, cf.name)
	}
	capJSON := string(cf.capacity)
	if cs.capacity != "" {
		v, err := readArg("capacity", cs.capacity)
		if err != nil {
			return cf, err
		}
		capJSON = v
	}
	if capJSON != "" {
		c, err := parseCapacity(capJSON)
		if err != nil {
			return cf, usageError("%v", err)
		}
		applyCapacity(cf.config, c)
	}
	return cf, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runCreateConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("create-connector", "Create a connector from a Kafka Connect JSON config (--file) or MSK-style flags.", stderr)
	var cf commonFlags
	var cs configSource
	var initial string
	addCommonFlags(fs, &cf)
	cs.addFlags(fs)
	fs.StringVar(&initial, "initial-state", "", "RUNNING (default), PAUSED or STOPPED")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	def, err := cs.build(pos)
	if err != nil {
		return err
	}
	if initial != "" {
		def.initialState = initial
	}
	state := api.State(strings.ToUpper(def.initialState))
	switch state {
	case "", api.Running, api.Paused, api.Stopped:
	default:
		return usageError("invalid initial state %q: want RUNNING, PAUSED or STOPPED", def.initialState)
	}
	info, err := cl.createConnector(ctx, api.CreateConnectorRequest{Name: def.name, Config: def.config, InitialState: state})
	if err != nil {
		return apiFailure(err)
	}
	if cf.output == "json" {
		return printJSON(stdout, info)
	}
	fmt.Fprintf(stdout, "Created %s connector %s (%d task(s))\n", info.Type, info.Name, len(info.Tasks))
	return nil
}

func runUpdateConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("update-connector", "Replace a connector's configuration (PUT /connectors/NAME/config).", stderr)
	var cf commonFlags
	var cs configSource
	addCommonFlags(fs, &cf)
	cs.addFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	if cs.file == "" && len(cs.kv) == 0 && cs.capacity != "" {
		return updateCapacity(ctx, cl, cf, cs, pos, stdout)
	}
	def, err := cs.build(pos)
	if err != nil {
		return err
	}
	if _, err := cl.connector(ctx, def.name); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == 404 {
			return apiFailure(fmt.Errorf("connector %s does not exist; use create-connector", def.name))
		}
		return apiFailure(err)
	}
	def.config["name"] = def.name
	info, _, err := cl.putConfig(ctx, def.name, def.config)
	if err != nil {
		return apiFailure(err)
	}
	if cf.output == "json" {
		return printJSON(stdout, info)
	}
	fmt.Fprintf(stdout, "Updated connector %s (%d task(s))\n", info.Name, len(info.Tasks))
	return nil
}

// updateCapacity is update-connector with only --capacity (MSK's
// UpdateConnector takes capacity or configuration, not both). Against a
// `sluice pool` endpoint it resizes the pool (PUT
// /connectors/NAME/capacity, recorded as an operation); against a plain
// Kafka Connect API it stores the capacity in the connector config.
func updateCapacity(ctx context.Context, cl *client, cf commonFlags, cs configSource, pos []string, stdout io.Writer) error {
	name, err := connectorName(cs.name, pos)
	if err != nil {
		return err
	}
	v, err := readArg("capacity", cs.capacity)
	if err != nil {
		return err
	}
	c, err := parseCapacity(v)
	if err != nil {
		return usageError("%v", err)
	}
	var res map[string]any
	code, err := cl.do(ctx, "PUT", connPath(name, "/capacity"), nil, map[string]any{"capacity": c}, &res)
	if err == nil {
		if cf.output == "json" {
			return printJSON(stdout, res)
		}
		fmt.Fprintf(stdout, "Updated capacity of connector %s to %s (operation %v, %v)\n", name, c, res["connectorOperationArn"], res["connectorOperationState"])
		return nil
	}
	if code != 404 && code != 405 {
		return apiFailure(err)
	}
	info, err := cl.connector(ctx, name)
	if err != nil {
		return apiFailure(err)
	}
	cfg := info.Config
	applyCapacity(cfg, c)
	upd, _, err := cl.putConfig(ctx, name, cfg)
	if err != nil {
		return apiFailure(err)
	}
	if cf.output == "json" {
		return printJSON(stdout, upd)
	}
	fmt.Fprintf(stdout, "Updated connector %s: capacity %s stored in its config (no pool manages it)\n", name, c)
	return nil
}

func runDeleteConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cl, cf, name, err := parseNamedVerb("delete-connector", "Delete a connector.", args, stderr)
	if err != nil {
		return err
	}
	if err := cl.deleteConnector(ctx, name); err != nil {
		return apiFailure(err)
	}
	if cf.output == "json" {
		return printJSON(stdout, map[string]string{"name": name, "deleted": "true"})
	}
	fmt.Fprintf(stdout, "Deleted connector %s\n", name)
	return nil
}

// connectorSummary is one row of list-connectors.
type connectorSummary struct {
	Name         string            `json:"name"`
	Type         api.ConnectorType `json:"type"`
	State        api.State         `json:"state"`
	WorkerID     string            `json:"worker_id"`
	TasksRunning int               `json:"tasks_running"`
	TasksTotal   int               `json:"tasks_total"`
	TaskStates   []api.TaskState   `json:"tasks"`
	// MSK Connect's names for name and state (ConnectorSummary).
	ConnectorName  string `json:"connectorName"`
	ConnectorState string `json:"connectorState"`
}

func runListConnectors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list-connectors", "List connectors with their type, state and tasks.", stderr)
	var cf commonFlags
	addCommonFlags(fs, &cf)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected arguments: %q", pos)
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	all, err := cl.expanded(ctx)
	if err != nil {
		return apiFailure(err)
	}
	rows := make([]connectorSummary, 0, len(all))
	for name, e := range all {
		r := connectorSummary{Name: name, TaskStates: []api.TaskState{}}
		if e.Info != nil {
			r.Type = e.Info.Type
		}
		if e.Status != nil {
			if r.Type == "" {
				r.Type = e.Status.Type
			}
			r.State = e.Status.Connector.State
			r.WorkerID = e.Status.Connector.WorkerID
			r.TaskStates = append(r.TaskStates, e.Status.Tasks...)
			r.TasksTotal = len(e.Status.Tasks)
			for _, t := range e.Status.Tasks {
				if t.State == api.Running {
					r.TasksRunning++
				}
			}
		}
		r.ConnectorName, r.ConnectorState = r.Name, string(r.State)
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if cf.output == "json" {
		// MSK's ListConnectors shape: the list wrapped in "connectors".
		return printJSON(stdout, struct {
			Connectors []connectorSummary `json:"connectors"`
		}{rows})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATE\tTASKS\tWORKER")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, orDash(string(r.Type)), orDash(string(r.State)), taskSummary(r.TaskStates), orDash(r.WorkerID))
	}
	return tw.Flush()
}

// taskSummary renders "2/3 RUNNING, 1 FAILED".
func taskSummary(ts []api.TaskState) string {
	if len(ts) == 0 {
		return "0"
	}
	counts := map[api.State]int{}
	for _, t := range ts {
		counts[t.State]++
	}
	s := fmt.Sprintf("%d/%d RUNNING", counts[api.Running], len(ts))
	var others []string
	for st, n := range counts {
		if st != api.Running {
			others = append(others, fmt.Sprintf("%d %s", n, st))
		}
	}
	sort.Strings(others)
	if len(others) > 0 {
		s += ", " + strings.Join(others, ", ")
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// taskDescription is one task in describe-connector's output.
type taskDescription struct {
	ID       int       `json:"id"`
	State    api.State `json:"state"`
	WorkerID string    `json:"worker_id"`
	Trace    string    `json:"trace,omitempty"`
	// Lag is the task's consumer lag summed over its partitions (sink
	// connectors; nil when the server reports none).
	Lag *float64 `json:"lag,omitempty"`
	// Snapshot is the task's initial snapshot progress (source tasks that
	// report sluice_postgres_snapshot_* metrics).
	Snapshot *snapshotProgress `json:"snapshot,omitempty"`
}

// connectorDescription is describe-connector's output.
type connectorDescription struct {
	Name      string             `json:"name"`
	Type      api.ConnectorType  `json:"type"`
	Config    map[string]string  `json:"config"`
	Capacity  *Capacity          `json:"capacity,omitempty"`
	Connector api.ConnectorState `json:"connector"`
	Tasks     []taskDescription  `json:"tasks"`
	// Lag is the connector's total consumer lag (sink connectors).
	Lag *float64 `json:"lag,omitempty"`
	// Pool and Operations are present when the endpoint is a `sluice
	// pool`: the MSK connector state, workers, and every scale event and
	// config update.
	Pool       *pool.Status     `json:"pool,omitempty"`
	Operations []pool.Operation `json:"operations,omitempty"`
	// MSK Connect's names for the same facts (see mskShape), so scripts
	// written for `aws kafkaconnect describe-connector` work.
	ConnectorName          string            `json:"connectorName"`
	ConnectorState         string            `json:"connectorState"`
	ConnectorConfiguration map[string]string `json:"connectorConfiguration"`
}

func runDescribeConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cl, cf, name, err := parseNamedVerb("describe-connector", "Show a connector's config (secrets masked), connector and task states with worker ids, lag and snapshot progress.", args, stderr)
	if err != nil {
		return err
	}
	info, err := cl.connector(ctx, name)
	if err != nil {
		return apiFailure(err)
	}
	st, err := cl.status(ctx, name)
	if err != nil {
		return apiFailure(err)
	}
	d := connectorDescription{Name: info.Name, Type: info.Type, Config: maskSecrets(info.Config), Connector: st.Connector, Tasks: []taskDescription{}}
	if d.Config == nil {
		d.Config = map[string]string{}
	}
	if c, err := parseCapacity(info.Config[capacityConfig]); err == nil {
		d.Capacity = &c
	}
	var ps pool.Status
	if _, err := cl.do(ctx, "GET", connPath(name, "/pool"), nil, nil, &ps); err == nil && ps.Connector == name {
		d.Pool = &ps
		d.Capacity = &ps.Capacity
		var ops struct {
			Ops []pool.Operation `json:"connectorOperations"`
		}
		if _, err := cl.do(ctx, "GET", connPath(name, "/operations"), nil, nil, &ops); err == nil {
			d.Operations = ops.Ops
		}
	}
	var workerIDs []string
	for _, t := range st.Tasks {
		workerIDs = append(workerIDs, t.WorkerID)
	}
	tm, lagErr := cl.taskMetricsAll(ctx, name, workerIDs)
	lag := tm.lag
	perTask := map[int]float64{}
	var total float64
	for k, v := range lag {
		perTask[k.task] += v
		total += v
	}
	if len(lag) > 0 {
		d.Lag = &total
	}
	for _, t := range st.Tasks {
		td := taskDescription{ID: t.ID, State: t.State, WorkerID: t.WorkerID, Trace: t.Trace}
		if v, ok := perTask[t.ID]; ok {
			td.Lag = &v
		}
		td.Snapshot = tm.snap[t.ID]
		d.Tasks = append(d.Tasks, td)
	}
	sort.Slice(d.Tasks, func(i, j int) bool { return d.Tasks[i].ID < d.Tasks[j].ID })
	if cf.output == "json" {
		mskShape(&d)
		return printJSON(stdout, d)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", d.Name)
	fmt.Fprintf(tw, "Type:\t%s\n", orDash(string(d.Type)))
	fmt.Fprintf(tw, "State:\t%s\n", orDash(string(d.Connector.State)))
	fmt.Fprintf(tw, "Worker:\t%s\n", orDash(d.Connector.WorkerID))
	if d.Capacity != nil {
		fmt.Fprintf(tw, "Capacity:\t%s\n", d.Capacity)
	}
	if p := d.Pool; p != nil {
		state := string(p.State)
		if p.StateDescription.Message != "" {
			state += " (" + p.StateDescription.Message + ")"
		}
		fmt.Fprintf(tw, "Connector state (MSK):\t%s\n", state)
		fmt.Fprintf(tw, "Workers:\t%d running, %d desired, tasks.max %d, CPU %.0f%%, %d restart(s)\n", len(p.Workers), p.DesiredWorkers, p.TasksMax, p.CPU, p.Restarts)
		for _, w := range p.Workers {
			fmt.Fprintf(tw, "  worker %d:\t%s pid %d, %d MCU, CPU %.0f%%\n", w.Index, w.ID, w.PID, w.MCU, w.CPU)
		}
	}
	switch {
	case d.Lag != nil:
		fmt.Fprintf(tw, "Lag:\t%s\n", formatLag(*d.Lag))
	case lagErr != nil:
		fmt.Fprintf(tw, "Lag:\tunavailable (%v)\n", lagErr)
	case d.Type == api.Sink:
		fmt.Fprintf(tw, "Lag:\tnot reported yet\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.Connector.Trace != "" {
		fmt.Fprintf(stdout, "Connector trace:\n%s\n", indent(d.Connector.Trace))
	}
	fmt.Fprintln(stdout, "\nConfig:")
	keys := make([]string, 0, len(d.Config))
	for k := range d.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\n", k, d.Config[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nTasks:")
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tSTATE\tWORKER\tLAG")
	for _, t := range d.Tasks {
		l := "-"
		if t.Lag != nil {
			l = formatLag(*t.Lag)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", t.ID, t.State, orDash(t.WorkerID), l)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Operations) > 0 {
		fmt.Fprintln(stdout, "\nOperations:")
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tTYPE\tSTATE\tBY\tWORKERS\tCREATED\tREASON")
		for _, op := range d.Operations {
			workers := "-"
			if op.Origin != nil && op.Target != nil {
				workers = fmt.Sprintf("%d -> %d", op.Origin.WorkerCount, op.Target.WorkerCount)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", op.ID, op.Type, op.State, op.Initiator, workers, op.Created.Format(time.RFC3339), op.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	snapHeader := false
	for _, t := range d.Tasks {
		if t.Snapshot == nil {
			continue
		}
		if !snapHeader {
			fmt.Fprintln(stdout, "\nSnapshot:")
			snapHeader = true
		}
		fmt.Fprintf(stdout, "  task %d: %s\n", t.ID, t.Snapshot)
	}
	for _, t := range d.Tasks {
		if t.Trace != "" {
			fmt.Fprintf(stdout, "\nTask %d trace:\n%s\n", t.ID, indent(t.Trace))
		}
	}
	return nil
}

func formatLag(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// maskSecrets returns cfg with the values of secret-looking keys (passwords,
// secrets, access keys, JAAS configs) replaced by "[hidden]": the REST API
// returns configs verbatim, as Kafka Connect does, and describe-connector
// output ends up in terminals and tickets. GET /connectors/{name}/config
// still has the real values.
func maskSecrets(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		if v != "" && (connect.ConfigDef(nil).Secret(k) || strings.HasSuffix(strings.ToLower(k), "sasl.jaas.config")) {
			v = "[hidden]"
		}
		out[k] = v
	}
	return out
}
