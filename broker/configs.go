package broker

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// defaultMaxMessageBytes is Kafka's default max.message.bytes.
const defaultMaxMessageBytes = 1048588

// topicConfigDef describes one supported topic config key.
type topicConfigDef struct {
	typ      kmsg.ConfigType
	validate func(v string) error
	// def renders the default from the broker's topic defaults.
	def func(d blog.Config) string
	doc string
}

// parseLongMin validates a 64-bit integer config value of at least min.
func parseLongMin(min int64) func(string) error { return parseIntBits(64, "an integer", min) }

// parseIntMin validates a 32-bit integer config value of at least min.
func parseIntMin(min int64) func(string) error { return parseIntBits(32, "a 32-bit integer", min) }

func parseIntBits(bits int, what string, min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return fmt.Errorf("%q is not %s", v, what)
		}
		if n < min {
			return fmt.Errorf("%d is below the minimum %d", n, min)
		}
		return nil
	}
}

func durMs(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// topicConfigDefs lists every topic config key the broker accepts. Other
// keys are rejected with INVALID_CONFIG.
func topicConfigDefs() map[string]topicConfigDef {
	return map[string]topicConfigDef{
		"cleanup.policy": {kmsg.ConfigTypeList, func(v string) error {
			if _, _, err := parseCleanupPolicy(v); err != nil {
				return err
			}
			return nil
		}, func(d blog.Config) string { return cleanupPolicyString(d.Compact, d.Delete) }, "delete and/or compact"},
		"retention.ms":      {kmsg.ConfigTypeLong, parseLongMin(-1), func(d blog.Config) string { return durMs(d.RetentionMs) }, "delete segments older than this (-1 = never)"},
		"retention.bytes":   {kmsg.ConfigTypeLong, parseLongMin(-1), func(d blog.Config) string { return strconv.FormatInt(d.RetentionBytes, 10) }, "delete old segments while the partition is larger (-1 = unlimited)"},
		"segment.bytes":     {kmsg.ConfigTypeInt, parseIntMin(14), func(d blog.Config) string { return strconv.FormatInt(d.SegmentBytes, 10) }, "segment file size"},
		"segment.ms":        {kmsg.ConfigTypeLong, parseLongMin(1), func(d blog.Config) string { return durMs(d.SegmentMs) }, "roll the active segment after this long"},
		"max.message.bytes": {kmsg.ConfigTypeInt, parseIntMin(0), func(blog.Config) string { return strconv.Itoa(defaultMaxMessageBytes) }, "largest record batch accepted"},
		"min.insync.replicas": {kmsg.ConfigTypeInt, parseIntMin(1), func(blog.Config) string { return "1" },
			"accepted for compatibility; a single node is always in sync"},
		"unclean.leader.election.enable": {kmsg.ConfigTypeBoolean, func(v string) error {
			switch strings.ToLower(v) {
			case "false":
				return nil
			case "true":
				return fmt.Errorf("true is not supported: electing an out-of-sync replica can lose acknowledged records; only false is accepted")
			}
			return fmt.Errorf("%q is not a boolean (want false)", v)
		}, func(blog.Config) string { return "false" }, "only false: leaders are elected from the in-sync replicas"},
		"delete.retention.ms":  {kmsg.ConfigTypeLong, parseLongMin(0), func(d blog.Config) string { return durMs(d.DeleteRetentionMs) }, "how long tombstones survive compaction"},
		"index.interval.bytes": {kmsg.ConfigTypeInt, parseIntMin(0), func(d blog.Config) string { return strconv.Itoa(d.IndexIntervalBytes) }, "sparse offset index granularity"},
		"message.timestamp.type": {kmsg.ConfigTypeString, func(v string) error {
			if v != "CreateTime" && v != "LogAppendTime" {
				return fmt.Errorf("%q must be CreateTime or LogAppendTime", v)
			}
			return nil
		}, func(blog.Config) string { return "CreateTime" }, "CreateTime or LogAppendTime"},
		"compression.type": {kmsg.ConfigTypeString, func(v string) error {
			if _, ok := compressionCodecs[v]; !ok {
				return fmt.Errorf("%q: want producer, uncompressed, gzip, snappy, lz4 or zstd", v)
			}
			return nil
		}, func(blog.Config) string { return "producer" }, "producer keeps batches as sent; any other codec recompresses batches that use a different one"},
		"message.format.version": {kmsg.ConfigTypeString, func(v string) error {
			if !validMessageFormatVersion(v) {
				return fmt.Errorf("%q is not a Kafka version such as 2.8 or 3.0-IV1", v)
			}
			return nil
		}, func(blog.Config) string { return "3.0-IV1" }, "accepted and ignored, as in Kafka 3.x: batches are always stored in format v2"},
		"flush.messages": {kmsg.ConfigTypeLong, parseLongMin(1), func(d blog.Config) string { return flushString(d.FlushMessages) },
			"fsync once this many messages are unflushed, before acknowledging"},
		"flush.ms": {kmsg.ConfigTypeLong, parseLongMin(0), func(d blog.Config) string { return flushString(d.FlushMs.Milliseconds()) },
			"fsync when data has been unflushed this long (checked every 100 ms)"},
	}
}

// compressionCodecs maps compression.type values to codecs (-1 = keep the producer's).
var compressionCodecs = map[string]int{
	"producer": -1, "uncompressed": blog.CodecNone, "gzip": blog.CodecGzip,
	"snappy": blog.CodecSnappy, "lz4": blog.CodecLZ4, "zstd": blog.CodecZstd,
}

// validMessageFormatVersion accepts Kafka version strings: 0.8.0 ... 3.x,
// optionally with an -IVn suffix.
func validMessageFormatVersion(v string) bool {
	base, _, _ := strings.Cut(v, "-")
	parts := strings.Split(base, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return false
		}
	}
	return true
}

// flushString renders a flush.* setting; 0 (unset) is Kafka's default Long.MAX_VALUE.
func flushString(n int64) string {
	if n <= 0 {
		return "9223372036854775807"
	}
	return strconv.FormatInt(n, 10)
}

func parseCleanupPolicy(v string) (compact, del bool, err error) {
	if strings.TrimSpace(v) == "" {
		return false, false, nil
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			compact = true
		case "delete":
			del = true
		default:
			return false, false, fmt.Errorf("%q: unknown policy %q (want delete, compact or both)", v, p)
		}
	}
	return compact, del, nil
}

func cleanupPolicyString(compact, del bool) string {
	switch {
	case compact && del:
		return "compact,delete"
	case compact:
		return "compact"
	case del:
		return "delete"
	}
	return ""
}

// validateTopicConfigs checks keys and values.
func validateTopicConfigs(cfg map[string]string) *topicError {
	for k, v := range cfg {
		def, ok := topicConfigDefs()[k]
		if !ok {
			return kafkaErr(kerr.InvalidConfig, "unknown topic config %q", k)
		}
		if err := def.validate(v); err != nil {
			return kafkaErr(kerr.InvalidConfig, "topic config %s: %v", k, err)
		}
	}
	return nil
}

// settingsFor turns explicit configs into settings on top of the defaults.
func (b *Broker) settingsFor(cfg map[string]string) (topicSettings, error) {
	s := topicSettings{log: b.opts.topicDefaults, maxMessageBytes: defaultMaxMessageBytes, compression: -1}
	for k, v := range cfg {
		def, ok := topicConfigDefs()[k]
		if !ok {
			return s, fmt.Errorf("unknown topic config %q", k)
		}
		if err := def.validate(v); err != nil {
			return s, fmt.Errorf("topic config %s: %v", k, err)
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ms := time.Duration(n) * time.Millisecond
		if n < 0 {
			ms = -1
		}
		switch k {
		case "cleanup.policy":
			s.log.Compact, s.log.Delete, _ = parseCleanupPolicy(v)
		case "retention.ms":
			s.log.RetentionMs = ms
		case "retention.bytes":
			s.log.RetentionBytes = n
		case "segment.bytes":
			s.log.SegmentBytes = n
		case "segment.ms":
			s.log.SegmentMs = ms
		case "max.message.bytes":
			s.maxMessageBytes = int32(n)
		case "delete.retention.ms":
			s.log.DeleteRetentionMs = ms
		case "index.interval.bytes":
			s.log.IndexIntervalBytes = int(n)
		case "message.timestamp.type":
			s.logAppendTime = v == "LogAppendTime"
		case "compression.type":
			s.compression = compressionCodecs[v]
		case "flush.messages":
			if n == math.MaxInt64 {
				n = 0 // Kafka's default: no limit
			}
			s.log.FlushMessages = n
		case "flush.ms":
			switch {
			case n == math.MaxInt64:
				s.log.FlushMs = 0
			case n == 0:
				s.log.FlushMs = time.Millisecond // as often as the checker runs
			default:
				s.log.FlushMs = ms
			}
		}
	}
	return s, nil
}

// setTopicConfigs replaces a topic's explicit configs, persists them and
// pushes the new log config to every partition.
func (b *Broker) setTopicConfigs(t *topic, cfg map[string]string) *topicError {
	if terr := validateTopicConfigs(cfg); terr != nil {
		return terr
	}
	set, err := b.settingsFor(cfg)
	if err != nil {
		return kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	if b.cl != nil {
		return b.cl.setTopicConfigs(t, cfg)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.topics[t.name]; !ok || cur != t {
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.name)
	}
	oldCfg, oldSet := t.configs, t.set
	t.configs, t.set = cfg, set
	if err := b.saveMetaLocked(); err != nil {
		t.configs, t.set = oldCfg, oldSet
		return kafkaErr(kerr.KafkaStorageError, "persist topic metadata: %v", err)
	}
	for _, p := range t.parts {
		p.log.SetConfig(set.log)
	}
	b.log.Info("topic configs changed", "topic", t.name, "configs", cfg)
	return nil
}

func (b *Broker) handleDescribeConfigs(req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		want := func(k string) bool {
			if r.ConfigNames == nil {
				return true
			}
			for _, n := range r.ConfigNames {
				if n == k {
					return true
				}
			}
			return false
		}
		add := func(name, value string, typ kmsg.ConfigType, src kmsg.ConfigSource, readOnly bool, doc string) {
			if !want(name) {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value = name, kmsg.StringPtr(value)
			c.ReadOnly = readOnly
			c.IsDefault = src == kmsg.ConfigSourceDefaultConfig
			c.Source = src
			c.ConfigType = typ
			if req.IncludeDocumentation {
				c.Documentation = kmsg.StringPtr(doc)
			}
			if req.IncludeSynonyms {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = name, c.Value, src
				c.ConfigSynonyms = append(c.ConfigSynonyms, s)
			}
			rr.Configs = append(rr.Configs, c)
		}
		switch r.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			b.mu.RLock()
			t, ok := b.topics[r.ResourceName]
			var cfg map[string]string
			if ok {
				cfg = t.configs
			}
			b.mu.RUnlock()
			if !ok {
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				rr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("topic %q does not exist", r.ResourceName))
				break
			}
			defs := topicConfigDefs()
			keys := make([]string, 0, len(defs))
			for k := range defs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				def := defs[k]
				if v, ok := cfg[k]; ok {
					add(k, v, def.typ, kmsg.ConfigSourceDynamicTopicConfig, false, def.doc)
				} else {
					add(k, def.def(b.opts.topicDefaults), def.typ, kmsg.ConfigSourceDefaultConfig, false, def.doc)
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			if r.ResourceName != "" && r.ResourceName != strconv.Itoa(int(b.opts.nodeID)) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				rr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("broker %q is not this broker (node id %d)", r.ResourceName, b.opts.nodeID))
				break
			}
			st := kmsg.ConfigSourceStaticBrokerConfig
			add("broker.id", strconv.Itoa(int(b.opts.nodeID)), kmsg.ConfigTypeInt, st, true, "node id")
			add("node.id", strconv.Itoa(int(b.opts.nodeID)), kmsg.ConfigTypeInt, st, true, "node id")
			add("log.dirs", b.opts.dataDir, kmsg.ConfigTypeString, st, true, "data directory")
			add("num.partitions", strconv.Itoa(int(b.opts.defaultPartitions)), kmsg.ConfigTypeInt, st, true, "default partition count")
			add("auto.create.topics.enable", strconv.FormatBool(b.opts.autoCreate), kmsg.ConfigTypeBoolean, st, true, "auto-create topics on metadata requests")
			add("default.replication.factor", "1", kmsg.ConfigTypeInt, st, true, "single node")
			add("offsets.topic.replication.factor", "1", kmsg.ConfigTypeShort, st, true, "single node")
			add("message.max.bytes", strconv.Itoa(defaultMaxMessageBytes), kmsg.ConfigTypeInt, st, true, "default max.message.bytes")
			add("min.insync.replicas", "1", kmsg.ConfigTypeInt, st, true, "single node")
			add("group.initial.rebalance.delay.ms", strconv.FormatInt(b.opts.groupDelay.Milliseconds(), 10), kmsg.ConfigTypeInt, st, true, "initial rebalance delay")
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			rr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("resource type %d is not supported", r.ResourceType))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// alterTarget resolves a topic resource for AlterConfigs.
func (b *Broker) alterTarget(typ kmsg.ConfigResourceType, name string) (*topic, map[string]string, *topicError) {
	if typ == kmsg.ConfigResourceTypeBroker {
		return nil, nil, kafkaErr(kerr.InvalidRequest, "broker configs are static; restart the broker with new flags")
	}
	if typ != kmsg.ConfigResourceTypeTopic {
		return nil, nil, kafkaErr(kerr.InvalidRequest, "resource type %d is not supported", typ)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	if !ok {
		return nil, nil, kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	cp := make(map[string]string, len(t.configs))
	for k, v := range t.configs {
		cp[k] = v
	}
	return t, cp, nil
}

func (b *Broker) handleAlterConfigs(req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		terr := func() *topicError {
			t, _, terr := b.alterTarget(r.ResourceType, r.ResourceName)
			if terr != nil {
				return terr
			}
			cfg := make(map[string]string) // AlterConfigs replaces the whole set
			for _, c := range r.Configs {
				if c.Value == nil {
					continue
				}
				cfg[c.Name] = *c.Value
			}
			if req.ValidateOnly {
				return validateTopicConfigs(cfg)
			}
			return b.setTopicConfigs(t, cfg)
		}()
		if terr != nil {
			rr.ErrorCode, rr.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func (b *Broker) handleIncrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		terr := func() *topicError {
			t, cfg, terr := b.alterTarget(r.ResourceType, r.ResourceName)
			if terr != nil {
				return terr
			}
			for _, c := range r.Configs {
				def, known := topicConfigDefs()[c.Name]
				if !known {
					return kafkaErr(kerr.InvalidConfig, "unknown topic config %q", c.Name)
				}
				val := ""
				if c.Value != nil {
					val = *c.Value
				}
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if c.Value == nil {
						return kafkaErr(kerr.InvalidConfig, "topic config %s: SET needs a value", c.Name)
					}
					cfg[c.Name] = val
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(cfg, c.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					if def.typ != kmsg.ConfigTypeList {
						return kafkaErr(kerr.InvalidConfig, "topic config %s is not a list; APPEND/SUBTRACT need a list config", c.Name)
					}
					cur, ok := cfg[c.Name]
					if !ok {
						cur = def.def(b.opts.topicDefaults)
					}
					items := splitList(cur)
					for _, v := range splitList(val) {
						idx := -1
						for i, it := range items {
							if it == v {
								idx = i
							}
						}
						if c.Op == kmsg.IncrementalAlterConfigOpAppend && idx < 0 {
							items = append(items, v)
						}
						if c.Op == kmsg.IncrementalAlterConfigOpSubtract && idx >= 0 {
							items = append(items[:idx], items[idx+1:]...)
						}
					}
					cfg[c.Name] = strings.Join(items, ",")
				default:
					return kafkaErr(kerr.InvalidRequest, "topic config %s: unknown operation %d", c.Name, c.Op)
				}
			}
			if req.ValidateOnly {
				return validateTopicConfigs(cfg)
			}
			return b.setTopicConfigs(t, cfg)
		}()
		if terr != nil {
			rr.ErrorCode, rr.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
