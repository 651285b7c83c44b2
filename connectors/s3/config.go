package s3

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Configuration keys. Names follow Confluent's S3 sink connector; keys
// prefixed "sluice." are sluice extensions.
const (
	KeyBucket              = "s3.bucket.name"
	KeyRegion              = "s3.region"
	KeyStoreURL            = "store.url"
	KeyPathStyle           = "s3.path.style.access"
	KeyPathStyleEnabled    = "s3.path.style.access.enabled"
	KeyAccessKeyID         = "aws.access.key.id"
	KeySecretAccessKey     = "aws.secret.access.key"
	KeyPartSize            = "s3.part.size"
	KeyTopicsDir           = "topics.dir"
	KeyFlushSize           = "flush.size"
	KeyRotateInterval      = "rotate.interval.ms"
	KeyRotateSchedule      = "rotate.schedule.interval.ms"
	KeyFormatClass         = "format.class"
	KeyParquetCodec        = "parquet.codec"
	KeyPartitionerClass    = "partitioner.class"
	KeyPartitionField      = "partition.field.name"
	KeyPathFormat          = "path.format"
	KeyPartitionDuration   = "partition.duration.ms"
	KeyLocale              = "locale"
	KeyTimezone            = "timezone"
	KeyTimestampExtractor  = "timestamp.extractor"
	KeyTimestampField      = "timestamp.field"
	KeySchemaCompatibility = "schema.compatibility"
	KeyNullValues          = "behavior.on.null.values"
	KeyStorageClass        = "storage.class"
	KeyJSONDecimalFormat   = "json.decimal.format"
	KeyDirectoryDelim      = "directory.delim"
	KeyFileDelim           = "file.delim"
	KeyCompressionType     = "s3.compression.type"
	KeyCompressionLevel    = "s3.compression.level"
	KeySSEA                = "s3.ssea.name"
	KeySSEKMSKeyID         = "s3.sse.kms.key.id"
	KeyACLCanned           = "s3.acl.canned"

	// KeyStorage selects the storage backend: "s3" (default) or "local".
	KeyStorage = "sluice.storage"
	// KeyLocalDir is the root directory of the local storage backend.
	KeyLocalDir = "local.dir"
	// KeyBufferMaxBytes caps the bytes the task holds in memory across all
	// open files; above it the largest buffers are spilled.
	KeyBufferMaxBytes = "sluice.buffer.max.bytes"
	// KeyRowGroupBytes is the approximate in-memory size at which a Parquet
	// row group is flushed to the file's (spillable) buffer.
	KeyRowGroupBytes = "sluice.parquet.row.group.bytes"
	// KeySpillDir is where file buffers spill to disk (default os.TempDir).
	KeySpillDir = "sluice.spill.dir"
	// KeyUploadConcurrency bounds the committed groups uploading in the
	// background at once.
	KeyUploadConcurrency = "sluice.upload.concurrency"
	// KeyRecovery enables the per-partition commit marker and the seek past
	// already-uploaded data on assignment.
	KeyRecovery = "sluice.recovery.enabled"
)

// Class names accepted in format.class and partitioner.class.
const (
	ParquetFormatClass = "io.confluent.connect.s3.format.parquet.ParquetFormat"
	JSONFormatClass    = "io.confluent.connect.s3.format.json.JsonFormat"
	AvroFormatClass    = "io.confluent.connect.s3.format.avro.AvroFormat"

	DefaultPartitionerClass   = "io.confluent.connect.storage.partitioner.DefaultPartitioner"
	FieldPartitionerClass     = "io.confluent.connect.storage.partitioner.FieldPartitioner"
	TimeBasedPartitionerClass = "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
	DailyPartitionerClass     = "io.confluent.connect.storage.partitioner.DailyPartitioner"
	HourlyPartitionerClass    = "io.confluent.connect.storage.partitioner.HourlyPartitioner"

	S3StorageClass = "io.confluent.connect.s3.storage.S3Storage"
)

const (
	minPartSize     = 5 << 20
	defaultPartSize = 25 << 20
)

func validateFormat(v string) error {
	switch formatName(v) {
	case "parquet", "json":
		return nil
	case "avro":
		return fmt.Errorf("AvroFormat is not supported by sluice; use %s or %s", ParquetFormatClass, JSONFormatClass)
	}
	return fmt.Errorf("unknown format class; supported: %s, %s", ParquetFormatClass, JSONFormatClass)
}

func formatName(v string) string {
	switch strings.TrimSpace(v) {
	case ParquetFormatClass, "parquet", "ParquetFormat":
		return "parquet"
	case JSONFormatClass, "json", "JsonFormat":
		return "json"
	case AvroFormatClass, "avro", "AvroFormat":
		return "avro"
	}
	return ""
}

func partitionerName(v string) string {
	v = strings.TrimSpace(v)
	i := strings.LastIndexByte(v, '.')
	switch v[i+1:] {
	case "DefaultPartitioner", "default":
		return "default"
	case "FieldPartitioner", "field":
		return "field"
	case "TimeBasedPartitioner", "time":
		return "time"
	case "DailyPartitioner", "daily":
		return "daily"
	case "HourlyPartitioner", "hourly":
		return "hourly"
	}
	return ""
}

func validatePartitioner(v string) error {
	if partitionerName(v) == "" {
		return fmt.Errorf("unknown partitioner; supported: %s, %s, %s, %s, %s", DefaultPartitionerClass,
			FieldPartitionerClass, TimeBasedPartitionerClass, DailyPartitionerClass, HourlyPartitionerClass)
	}
	return nil
}

func extractorName(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexAny(v, ".$"); i >= 0 {
		v = v[i+1:]
	}
	switch strings.ToLower(strings.TrimSuffix(v, "TimestampExtractor")) {
	case "wallclock":
		return "wallclock"
	case "record":
		return "record"
	case "recordfield":
		return "recordfield"
	}
	return ""
}

func validateCodec(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "snappy", "gzip", "zstd", "none", "uncompressed", "lz4", "lz4_raw":
		return nil
	}
	return fmt.Errorf("must be one of snappy, gzip, zstd, lz4, none (uncompressed)")
}

func validateTimezone(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if _, err := time.LoadLocation(strings.TrimSpace(v)); err != nil {
		return fmt.Errorf("unknown time zone: %v", err)
	}
	return nil
}

func validateStoreURL(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("must be an absolute URL such as http://host:port or file:///dir")
	}
	switch u.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("unsupported scheme %q (http, https or file)", u.Scheme)
}

func validatePathFormat(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	_, err := parseJoda(v)
	return err
}

func validateLongOrMinus1(v string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return fmt.Errorf("expected a long")
	}
	if n < -1 || n == 0 {
		return fmt.Errorf("must be -1 (disabled) or a positive number of milliseconds")
	}
	return nil
}

// Keys implements connect.Options: every key, with its destination in s.
func (s *settings) Keys() connect.ConfigDef {
	str := func(name, def, group, doc string, v func(string) error, into func(string) error, rec ...string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: v, Recommended: rec, Into: into}
	}
	long := func(name, def, group, doc string, v func(string) error, dst *int64) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeLong, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: v, Into: connect.IntoInt64(dst)}
	}
	trim := func(dst *string) func(string) error { return connect.Into(dst, trimmed) }
	return connect.ConfigDef{
		str(KeyBucket, "", "S3", "The S3 bucket; required unless sluice.storage=local.", nil, trim(&s.bucket)),
		str(KeyRegion, "us-west-2", "S3", "The AWS region of the bucket.", nil, trim(&s.region)),
		str(KeyStoreURL, "", "S3", "Custom S3 endpoint (http(s)://host:port), or file:///dir for local storage.", validateStoreURL, trim(&s.endpoint)),
		{Name: KeyPathStyle, Type: connect.TypeBoolean, Default: "false", HasDefault: true, Importance: connect.Low, Group: "S3",
			Doc: "Use path-style bucket addressing; when neither this key nor s3.path.style.access.enabled is set, true with store.url and false without.", Into: connect.IntoBool(&s.pathStyle)},
		str(KeyAccessKeyID, "", "S3", "Static AWS access key id; empty uses the default credential chain.", nil, trim(&s.accessKey)),
		{Name: KeySecretAccessKey, Type: connect.TypePassword, Default: "", HasDefault: true, Importance: connect.High, Group: "S3",
			Doc: "Static AWS secret access key.", Into: connect.IntoString(&s.secretKey)},
		long(KeyPartSize, strconv.Itoa(defaultPartSize), "S3", "Multipart upload part size in bytes (at least 5 MiB).", connect.AtLeast(minPartSize), &s.partSize),
		str(KeyStorageClass, S3StorageClass, "Storage", "Storage implementation class (only S3Storage).", func(v string) error {
			if strings.TrimSpace(v) != S3StorageClass {
				return fmt.Errorf("only %s is supported; set sluice.storage=local for a local directory", S3StorageClass)
			}
			return nil
		}, nil),
		str(KeyStorage, "s3", "Storage", "Storage backend: s3 or local (files under local.dir).", connect.OneOf("s3", "local"), connect.Into(&s.local, isLocal)),
		str(KeyLocalDir, "", "Storage", "Root directory for sluice.storage=local.", nil, trim(&s.localDir)),
		str(KeyTopicsDir, "topics", "Storage", "Top-level directory (key prefix) for data.", nil, connect.Into(&s.topicsDir, parseTopicsDir)),
		str(KeyDirectoryDelim, "/", "Storage", "Directory delimiter.", nil, connect.IntoString(&s.dirDelim)),
		str(KeyFileDelim, "+", "Storage", "File name delimiter.", nil, connect.IntoString(&s.fileDelim)),
		{Name: KeyFlushSize, Type: connect.TypeInt, Importance: connect.High, Group: "Connector",
			Doc: "Number of records written to a file before it is committed.", Validate: connect.AtLeast(1), Into: connect.IntoInt64(&s.flushSize)},
		long(KeyRotateInterval, "-1", "Connector", "Commit files when record timestamps span this many ms (-1 disables).", validateLongOrMinus1, &s.rotateIntervalMs),
		long(KeyRotateSchedule, "-1", "Connector", "Commit files at this wall-clock interval (-1 disables).", validateLongOrMinus1, &s.rotateScheduleMs),
		{Name: KeyFormatClass, Type: connect.TypeClass, Importance: connect.High, Group: "Connector",
			Doc: "Output format class.", Validate: validateFormat, Recommended: []string{ParquetFormatClass, JSONFormatClass},
			Into: connect.Into(&s.format, func(v string) (string, error) { return formatName(v), nil })},
		str(KeyParquetCodec, "snappy", "Connector", "Parquet compression codec.", validateCodec, connect.IntoLower(&s.codec), "snappy", "gzip", "zstd", "none"),
		str(KeyCompressionType, "none", "Connector", "Compression of JsonFormat files: none or gzip (.json.gz).", connect.OneOf("none", "gzip"), connect.Into(&s.gzip, func(v string) (bool, error) { return strings.EqualFold(strings.TrimSpace(v), "gzip"), nil })),
		{Name: KeyCompressionLevel, Type: connect.TypeInt, Default: "-1", HasDefault: true, Importance: connect.Low, Group: "Connector",
			Doc: "gzip level: -1 (default) or 0-9.", Validate: func(v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < -1 || n > 9 {
					return fmt.Errorf("must be -1 (default) or 0 to 9")
				}
				return nil
			}, Into: connect.IntoInt(&s.level)},
		str(KeySSEA, "", "S3", "Server-side encryption: empty, AES256 or aws:kms.", connect.OneOf("", "AES256", "aws:kms"), trim(&s.sse)),
		str(KeySSEKMSKeyID, "", "S3", "KMS key id for s3.ssea.name=aws:kms (empty: the AWS managed key).", nil, trim(&s.kmsKeyID)),
		str(KeyACLCanned, "", "S3", "Canned ACL for uploaded objects (e.g. bucket-owner-full-control).", connect.OneOf("", "private",
			"public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"), trim(&s.acl)),
		str(KeyJSONDecimalFormat, "BASE64", "Connector", "Decimal encoding in JsonFormat: BASE64 or NUMERIC.", connect.OneOf("BASE64", "NUMERIC"),
			connect.Into(&s.jsonDecimalNum, func(v string) (bool, error) { return strings.EqualFold(strings.TrimSpace(v), "NUMERIC"), nil })),
		str(KeySchemaCompatibility, "NONE", "Connector", "Schema evolution handling.", connect.OneOf("NONE", "BACKWARD", "FORWARD", "FULL"),
			connect.Into(&s.compat, func(v string) (string, error) { return strings.ToUpper(strings.TrimSpace(v)), nil })),
		str(KeyNullValues, "fail", "Connector", "Records with null values: fail, ignore or write (JsonFormat only).", connect.OneOf("fail", "ignore", "write"), connect.IntoLower(&s.nullValues)),
		{Name: KeyPartitionerClass, Type: connect.TypeClass, Default: DefaultPartitionerClass, HasDefault: true,
			Importance: connect.High, Group: "Partitioner", Doc: "Partitioner class.", Validate: validatePartitioner,
			Into: connect.Into(&s.partitioner, func(v string) (string, error) { return partitionerName(v), nil })},
		str(KeyPartitionField, "", "Partitioner", "Fields used by FieldPartitioner (comma-separated).", nil, connect.IntoList(&s.partitionFields)),
		str(KeyPathFormat, "", "Partitioner", "Joda-style path format for time-based partitioners.", validatePathFormat, trim(&s.pathFormat)),
		long(KeyPartitionDuration, "-1", "Partitioner", "Duration of a time-based partition in ms.", validateLongOrMinus1, &s.durationMs),
		str(KeyLocale, "", "Partitioner", "Locale for time-based paths (numeric fields only, so informational).", nil, trim(&s.locale)),
		str(KeyTimezone, "", "Partitioner", "Time zone for time-based paths (IANA name, e.g. UTC).", validateTimezone, connect.Into(&s.tz, parseTimezone)),
		str(KeyTimestampExtractor, "Wallclock", "Partitioner", "Wallclock, Record or RecordField.", func(v string) error {
			if extractorName(v) == "" {
				return fmt.Errorf("must be Wallclock, Record or RecordField")
			}
			return nil
		}, connect.Into(&s.extractor, func(v string) (string, error) { return extractorName(v), nil })),
		str(KeyTimestampField, "timestamp", "Partitioner", "Record field holding the timestamp for RecordField.", nil, trim(&s.timestampField)),
		long(KeyBufferMaxBytes, strconv.Itoa(256<<20), "sluice", "Cap on in-memory buffered bytes across all open files.", connect.AtLeast(1<<20), &s.bufferMax),
		long(KeyRowGroupBytes, strconv.Itoa(32<<20), "sluice", "Approximate Parquet row group size in memory.", connect.AtLeast(64<<10), &s.rowGroupMax),
		str(KeySpillDir, "", "sluice", "Directory for spilled file buffers (default: system temp dir).", nil, trim(&s.spillDir)),
		{Name: KeyUploadConcurrency, Type: connect.TypeInt, Default: "4", HasDefault: true, Importance: connect.Low, Group: "sluice",
			Doc: "Committed file groups uploading in the background at once (1 = one at a time).", Validate: connect.AtLeast(1), Into: connect.IntoInt(&s.uploadConcurrency)},
		{Name: KeyRecovery, Type: connect.TypeBoolean, Default: "true", HasDefault: true, Importance: connect.Low, Group: "sluice",
			Doc: "Write a commit marker per partition and skip data already uploaded when a partition is assigned.", Into: connect.IntoBool(&s.recovery)},
	}
}

// settings is the parsed configuration of a task.
type settings struct {
	bucket, region, endpoint string
	pathStyle                bool
	accessKey, secretKey     string
	partSize                 int64
	local                    bool
	localDir                 string
	topicsDir                string
	dirDelim, fileDelim      string

	flushSize        int64
	rotateIntervalMs int64
	rotateScheduleMs int64
	format           string // parquet | json
	codec            string
	jsonDecimalNum   bool
	compat           string
	nullValues       string
	gzipLevel        int // noGzip unless s3.compression.type=gzip
	sse, kmsKeyID    string
	acl              string

	partitioner     string
	partitionFields []string
	pathFormat      string
	durationMs      int64
	locale          string
	tz              *time.Location
	extractor       string
	timestampField  string

	bufferMax         int64
	rowGroupMax       int64
	spillDir          string
	recovery          bool
	uploadConcurrency int

	gzip  bool // s3.compression.type=gzip
	level int  // s3.compression.level, applied when gzip
	// raw is the unbound config, for the rules on whether a key was set
	// at all (path-style addressing).
	raw map[string]string
}

// parseSettings binds cfg (connect.Bind) and returns the task settings.
// Errors are *connect.ConfigError naming the key.
func parseSettings(raw map[string]string) (*settings, error) {
	s := &settings{raw: raw}
	if _, err := connect.Bind(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Check implements connect.Options: the rules across keys, and the values
// derived from several keys.
func (s *settings) Check() error {
	s.gzipLevel = noGzip
	if s.gzip {
		if s.format != "json" {
			return connect.Errorf(KeyCompressionType, "gzip applies to %s only; use parquet.codec for Parquet", JSONFormatClass)
		}
		s.gzipLevel = s.level
	}
	if s.kmsKeyID != "" && s.sse != "aws:kms" {
		return connect.Errorf(KeySSEKMSKeyID, "requires %s=aws:kms", KeySSEA)
	}
	_, set1 := s.raw[KeyPathStyle]
	_, set2 := s.raw[KeyPathStyleEnabled]
	if !set1 && !set2 && s.endpoint != "" {
		// S3-compatible stores behind store.url mostly need path-style.
		s.pathStyle = true
	}
	if v, ok := s.raw[KeyPathStyleEnabled]; ok {
		if err := connect.OneOf("true", "false")(v); err != nil {
			return connect.Errorf(KeyPathStyleEnabled, "%v", err)
		}
		s.pathStyle = s.pathStyle || strings.EqualFold(strings.TrimSpace(v), "true")
	}
	if s.dirDelim == "" {
		return connect.Errorf(KeyDirectoryDelim, "must not be empty")
	}
	if s.fileDelim == "" {
		return connect.Errorf(KeyFileDelim, "must not be empty")
	}
	if strings.HasPrefix(s.endpoint, "file://") {
		u, _ := url.Parse(s.endpoint)
		s.local = true
		if s.localDir == "" {
			s.localDir = u.Path
		}
	}
	if s.local {
		if s.localDir == "" {
			return connect.Errorf(KeyLocalDir, "required when %s=local", KeyStorage)
		}
	} else {
		if s.bucket == "" {
			return connect.Errorf(KeyBucket, "Missing required configuration %q which has no default value.", KeyBucket)
		}
		if (s.accessKey == "") != (s.secretKey == "") {
			return connect.Errorf(KeySecretAccessKey, "%s and %s must be set together", KeyAccessKeyID, KeySecretAccessKey)
		}
	}
	if s.nullValues == "write" && s.format == "parquet" {
		return connect.Errorf(KeyNullValues, "write is only supported with %s", JSONFormatClass)
	}
	switch s.partitioner {
	case "field":
		if len(s.partitionFields) == 0 {
			return connect.Errorf(KeyPartitionField, "required by FieldPartitioner")
		}
	case "daily":
		s.pathFormat, s.durationMs = "'year'=YYYY/'month'=MM/'day'=dd", 24*3600*1000
	case "hourly":
		s.pathFormat, s.durationMs = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", 3600*1000
	case "time":
		if s.pathFormat == "" {
			return connect.Errorf(KeyPathFormat, "required by TimeBasedPartitioner")
		}
		if s.durationMs <= 0 {
			return connect.Errorf(KeyPartitionDuration, "required by TimeBasedPartitioner (a positive number of ms)")
		}
	}
	if s.partitioner == "time" || s.partitioner == "daily" || s.partitioner == "hourly" {
		if s.tz == nil {
			return connect.Errorf(KeyTimezone, "required by time-based partitioners (for example UTC)")
		}
		if s.locale == "" {
			return connect.Errorf(KeyLocale, "required by time-based partitioners (for example en-US)")
		}
	}
	if s.extractor == "recordfield" && s.timestampField == "" {
		return connect.Errorf(KeyTimestampField, "required by the RecordField timestamp extractor")
	}
	if s.tz == nil {
		s.tz = time.UTC
	}
	return nil
}

func trimmed(v string) (string, error) { return strings.TrimSpace(v), nil }

func isLocal(v string) (bool, error) { return strings.EqualFold(strings.TrimSpace(v), "local"), nil }

func parseTopicsDir(v string) (string, error) { return strings.Trim(strings.TrimSpace(v), "/"), nil }

// parseTimezone loads a (validated) IANA zone; empty is nil (unset).
func parseTimezone(v string) (*time.Location, error) {
	if v = strings.TrimSpace(v); v == "" {
		return nil, nil
	}
	return time.LoadLocation(v)
}
