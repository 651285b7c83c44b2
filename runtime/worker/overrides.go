package worker

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// clientProps merges worker-level "<kind>." properties with connector-level
// "<kind>.override." settings (kind is consumer or producer), like Kafka
// Connect with connector.client.config.override.policy=All.
func (w *Worker) clientProps(kind string, conn map[string]string) map[string]string {
	out := prefixed(w.cfg.Props, kind+".")
	for k, v := range prefixed(conn, kind+".override.") {
		out[k] = v
	}
	return out
}

func msOpt(props map[string]string, key string, fn func(time.Duration) kgo.Opt) ([]kgo.Opt, error) {
	v, ok := props[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s=%q: expected milliseconds", key, v)
	}
	return []kgo.Opt{fn(time.Duration(n) * time.Millisecond)}, nil
}

func intOpt(props map[string]string, key string, fn func(int32) kgo.Opt) ([]kgo.Opt, error) {
	v, ok := props[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s=%q: expected a non-negative integer", key, v)
	}
	return []kgo.Opt{fn(int32(n))}, nil
}

// consumerOpts maps the supported consumer properties to kgo options; it
// also returns max.poll.records (default 500).
func consumerOpts(props map[string]string) ([]kgo.Opt, int, error) {
	var opts []kgo.Opt
	add := func(o []kgo.Opt, err error) error {
		opts = append(opts, o...)
		return err
	}
	for _, err := range []error{
		add(msOpt(props, "session.timeout.ms", func(d time.Duration) kgo.Opt { return kgo.SessionTimeout(d) })),
		add(msOpt(props, "heartbeat.interval.ms", func(d time.Duration) kgo.Opt { return kgo.HeartbeatInterval(d) })),
		add(msOpt(props, "max.poll.interval.ms", func(d time.Duration) kgo.Opt { return kgo.RebalanceTimeout(d) })),
		add(msOpt(props, "fetch.max.wait.ms", func(d time.Duration) kgo.Opt { return kgo.FetchMaxWait(d) })),
		add(intOpt(props, "fetch.min.bytes", func(n int32) kgo.Opt { return kgo.FetchMinBytes(n) })),
		add(intOpt(props, "fetch.max.bytes", func(n int32) kgo.Opt { return kgo.FetchMaxBytes(n) })),
		add(intOpt(props, "max.partition.fetch.bytes", func(n int32) kgo.Opt { return kgo.FetchMaxPartitionBytes(n) })),
	} {
		if err != nil {
			return nil, 0, err
		}
	}
	if v, ok := props["auto.offset.reset"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "earliest":
			opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		case "latest":
			opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		case "none":
			opts = append(opts, kgo.ConsumeResetOffset(kgo.NoResetOffset()))
		default:
			return nil, 0, fmt.Errorf("auto.offset.reset=%q: expected earliest, latest or none", v)
		}
	}
	if v, ok := props["isolation.level"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "read_committed":
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		case "read_uncommitted":
		default:
			return nil, 0, fmt.Errorf("isolation.level=%q: expected read_committed or read_uncommitted", v)
		}
	}
	if v, ok := props["client.id"]; ok && v != "" {
		opts = append(opts, kgo.ClientID(v))
	}
	if v, ok := props["group.instance.id"]; ok && v != "" {
		opts = append(opts, kgo.InstanceID(v))
	}
	maxPoll := 500
	if v, ok := props["max.poll.records"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return nil, 0, fmt.Errorf("max.poll.records=%q: expected a positive integer", v)
		}
		maxPoll = n
	}
	return opts, maxPoll, nil
}

// producerOpts maps the supported producer properties to kgo options.
func producerOpts(props map[string]string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	add := func(o []kgo.Opt, err error) error {
		opts = append(opts, o...)
		return err
	}
	for _, err := range []error{
		add(msOpt(props, "linger.ms", func(d time.Duration) kgo.Opt { return kgo.ProducerLinger(d) })),
		add(msOpt(props, "delivery.timeout.ms", func(d time.Duration) kgo.Opt { return kgo.RecordDeliveryTimeout(d) })),
		add(intOpt(props, "batch.size", func(n int32) kgo.Opt { return kgo.ProducerBatchMaxBytes(n) })),
		add(intOpt(props, "max.request.size", func(n int32) kgo.Opt { return kgo.ProducerBatchMaxBytes(n) })),
		add(intOpt(props, "buffer.memory", func(n int32) kgo.Opt { return kgo.MaxBufferedBytes(int(n)) })),
	} {
		if err != nil {
			return nil, err
		}
	}
	if v, ok := props["compression.type"]; ok {
		var c kgo.CompressionCodec
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "none":
			c = kgo.NoCompression()
		case "gzip":
			c = kgo.GzipCompression()
		case "snappy":
			c = kgo.SnappyCompression()
		case "lz4":
			c = kgo.Lz4Compression()
		case "zstd":
			c = kgo.ZstdCompression()
		default:
			return nil, fmt.Errorf("compression.type=%q: expected none, gzip, snappy, lz4 or zstd", v)
		}
		opts = append(opts, kgo.ProducerBatchCompression(c))
	}
	if v, ok := props["client.id"]; ok && v != "" {
		opts = append(opts, kgo.ClientID(v))
	}
	return opts, nil
}
