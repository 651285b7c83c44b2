package worker

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is a worker configuration, read from Kafka Connect worker
// properties (see FromProperties).
type Config struct {
	BootstrapServers []string
	GroupID          string

	ConfigTopic string
	OffsetTopic string
	StatusTopic string
	// Replication factors of the internal topics; -1 uses the broker default.
	ConfigReplicationFactor int16
	OffsetReplicationFactor int16
	StatusReplicationFactor int16
	OffsetPartitions        int32
	StatusPartitions        int32

	// KeyConverter and ValueConverter are the default converter classes;
	// KeyConverterConfig/ValueConverterConfig hold their settings with the
	// "key.converter."/"value.converter." prefix removed.
	KeyConverter         string
	ValueConverter       string
	KeyConverterConfig   map[string]string
	ValueConverterConfig map[string]string
	HeaderConverter      string

	OffsetFlushInterval time.Duration
	OffsetFlushTimeout  time.Duration
	AdvertisedURL       string
	SessionTimeout      time.Duration
	HeartbeatInterval   time.Duration
	RebalanceTimeout    time.Duration
	TaskShutdownTimeout time.Duration
	WorkerID            string
	// MaskSecrets (sluice.rest.mask.secrets, default false) makes the REST
	// API answer secret config values as "[hidden]". By default they are
	// returned verbatim, as Kafka Connect does, so tools that GET a config
	// and PUT it back keep the secrets.
	MaskSecrets bool
	// TopicTracking (topic.tracking.enable, default true) records the
	// topics each connector uses in the status topic (KIP-558).
	TopicTracking bool
	// TopicTrackingReset (topic.tracking.allow.reset, default true) allows
	// PUT /connectors/{name}/topics/reset.
	TopicTrackingReset bool
	Props              map[string]string // all properties as given
}

// DefaultConfig returns the Kafka Connect defaults.
func DefaultConfig() Config {
	return Config{
		BootstrapServers:        []string{"localhost:9092"},
		GroupID:                 "connect-cluster",
		ConfigTopic:             "connect-configs",
		OffsetTopic:             "connect-offsets",
		StatusTopic:             "connect-status",
		ConfigReplicationFactor: -1,
		OffsetReplicationFactor: -1,
		StatusReplicationFactor: -1,
		OffsetPartitions:        25,
		StatusPartitions:        5,
		KeyConverter:            "org.apache.kafka.connect.json.JsonConverter",
		ValueConverter:          "org.apache.kafka.connect.json.JsonConverter",
		KeyConverterConfig:      map[string]string{},
		ValueConverterConfig:    map[string]string{},
		OffsetFlushInterval:     60 * time.Second,
		OffsetFlushTimeout:      5 * time.Second,
		AdvertisedURL:           "http://localhost:8083",
		SessionTimeout:          10 * time.Second,
		HeartbeatInterval:       3 * time.Second,
		RebalanceTimeout:        60 * time.Second,
		TaskShutdownTimeout:     5 * time.Second,
		TopicTracking:           true,
		TopicTrackingReset:      true,
		Props:                   map[string]string{},
	}
}

// ConfigError names a worker property with an invalid value.
type ConfigError struct {
	Key, Value, Msg string
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("worker config %s=%q: %s", e.Key, e.Value, e.Msg)
}

// FromProperties builds a Config from Kafka Connect worker properties,
// starting from DefaultConfig.
func FromProperties(p map[string]string) (Config, error) {
	c := DefaultConfig()
	c.Props = make(map[string]string, len(p))
	for k, v := range p {
		c.Props[k] = v
	}
	str := func(key string, dst *string) {
		if v, ok := p[key]; ok && strings.TrimSpace(v) != "" {
			*dst = strings.TrimSpace(v)
		}
	}
	var err error
	dur := func(key string, dst *time.Duration) {
		v, ok := p[key]
		if !ok || err != nil {
			return
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if perr != nil || n < 0 {
			err = &ConfigError{key, v, "expected a non-negative number of milliseconds"}
			return
		}
		*dst = time.Duration(n) * time.Millisecond
	}
	i16 := func(key string, dst *int16) {
		v, ok := p[key]
		if !ok || err != nil {
			return
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 16)
		if perr != nil || n == 0 || n < -1 {
			err = &ConfigError{key, v, "expected a positive replication factor or -1"}
			return
		}
		*dst = int16(n)
	}
	i32 := func(key string, dst *int32) {
		v, ok := p[key]
		if !ok || err != nil {
			return
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if perr != nil || n < 1 {
			err = &ConfigError{key, v, "expected a positive partition count"}
			return
		}
		*dst = int32(n)
	}
	if v, ok := p["bootstrap.servers"]; ok {
		var bs []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				bs = append(bs, s)
			}
		}
		if len(bs) == 0 {
			return c, &ConfigError{"bootstrap.servers", v, "no broker address"}
		}
		c.BootstrapServers = bs
	}
	str("group.id", &c.GroupID)
	str("config.storage.topic", &c.ConfigTopic)
	str("offset.storage.topic", &c.OffsetTopic)
	str("status.storage.topic", &c.StatusTopic)
	i16("config.storage.replication.factor", &c.ConfigReplicationFactor)
	i16("offset.storage.replication.factor", &c.OffsetReplicationFactor)
	i16("status.storage.replication.factor", &c.StatusReplicationFactor)
	i32("offset.storage.partitions", &c.OffsetPartitions)
	i32("status.storage.partitions", &c.StatusPartitions)
	str("key.converter", &c.KeyConverter)
	str("value.converter", &c.ValueConverter)
	str("header.converter", &c.HeaderConverter)
	c.KeyConverterConfig = prefixed(p, "key.converter.")
	c.ValueConverterConfig = prefixed(p, "value.converter.")
	dur("offset.flush.interval.ms", &c.OffsetFlushInterval)
	dur("offset.flush.timeout.ms", &c.OffsetFlushTimeout)
	dur("session.timeout.ms", &c.SessionTimeout)
	dur("heartbeat.interval.ms", &c.HeartbeatInterval)
	dur("rebalance.timeout.ms", &c.RebalanceTimeout)
	dur("task.shutdown.graceful.timeout.ms", &c.TaskShutdownTimeout)
	boolean := func(key string, dst *bool) {
		if v, ok := p[key]; ok && strings.TrimSpace(v) != "" {
			b, perr := strconv.ParseBool(strings.TrimSpace(v))
			if perr != nil {
				err = &ConfigError{key, v, "expected true or false"}
				return
			}
			*dst = b
		}
	}
	boolean("sluice.rest.mask.secrets", &c.MaskSecrets)
	boolean("topic.tracking.enable", &c.TopicTracking)
	boolean("topic.tracking.allow.reset", &c.TopicTrackingReset)
	if err != nil {
		return c, err
	}
	if v, ok := p["rest.advertised.listener"]; ok && strings.Contains(v, "://") {
		c.AdvertisedURL = strings.TrimSpace(v)
	} else {
		host, port, scheme := p["rest.advertised.host.name"], p["rest.advertised.port"], "http"
		if v, ok := p["rest.advertised.listener"]; ok && v != "" {
			scheme = strings.ToLower(strings.TrimSpace(v))
		}
		if l, ok := p["listeners"]; ok && (host == "" || port == "") {
			first := strings.TrimSpace(strings.Split(l, ",")[0])
			if i := strings.Index(first, "://"); i > 0 {
				hp := first[i+3:]
				if j := strings.LastIndex(hp, ":"); j >= 0 {
					if host == "" && hp[:j] != "" && hp[:j] != "0.0.0.0" {
						host = hp[:j]
					}
					if port == "" {
						port = hp[j+1:]
					}
				}
			}
		}
		if host != "" || port != "" {
			if host == "" {
				host = "localhost"
			}
			if port == "" {
				port = "8083"
			}
			c.AdvertisedURL = scheme + "://" + host + ":" + port
		}
	}
	str("sluice.worker.id", &c.WorkerID)
	return c, c.check()
}

func (c Config) check() error {
	if c.HeartbeatInterval >= c.SessionTimeout {
		return &ConfigError{"heartbeat.interval.ms", strconv.FormatInt(c.HeartbeatInterval.Milliseconds(), 10), "must be lower than session.timeout.ms"}
	}
	if c.GroupID == "" {
		return &ConfigError{"group.id", "", "required"}
	}
	return nil
}

func prefixed(p map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// LoadProperties reads a Java .properties file.
func LoadProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseProperties parses Java .properties syntax: '#'/'!' comments, key
// separators '=', ':' or whitespace, backslash line continuations and the
// escapes \t \n \r \f \uXXXX and \<char>.
func ParseProperties(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	lineNo := 0
	var logical strings.Builder
	startLine := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if logical.Len() == 0 {
			line = strings.TrimLeft(line, " \t\f")
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			startLine = lineNo
		} else {
			line = strings.TrimLeft(line, " \t\f")
		}
		// count trailing backslashes
		n := 0
		for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		k, v, err := splitProperty(logical.String())
		logical.Reset()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", startLine, err)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical.Len() > 0 {
		k, v, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", startLine, err)
		}
		out[k] = v
	}
	return out, nil
}

func splitProperty(s string) (string, string, error) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(s) {
		i = len(s)
	}
	key := s[:i]
	rest := s[i:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	k, err := unescapeProperty(key)
	if err != nil {
		return "", "", err
	}
	v, err := unescapeProperty(rest)
	if err != nil {
		return "", "", fmt.Errorf("key %q: %w", k, err)
	}
	return k, v, nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("truncated \\u escape at byte %d", i-1)
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("bad \\u escape %q at byte %d", s[i-1:i+5], i-1)
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
