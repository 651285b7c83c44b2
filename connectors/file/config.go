package file

import (
	"errors"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// sourceOptions is the bound configuration of the file source.
type sourceOptions struct {
	filename  string // "" reads stdin ("-" is bound as "")
	topic     string
	batchSize int
	interval  time.Duration
}

var _ connect.Options = (*sourceOptions)(nil)

// Keys implements connect.Options.
func (o *sourceOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: FileConfig, Type: connect.TypeString, HasDefault: true, Importance: connect.High,
			Doc:  "Source filename. If empty or \"-\", stdin is read (without offsets).",
			Into: connect.Into(&o.filename, stdinDash)},
		{Name: TopicConfig, Type: connect.TypeString, Importance: connect.High,
			Doc: "The topic to publish data to.", Validate: nonEmpty, Into: connect.IntoString(&o.topic)},
		{Name: BatchSizeConfig, Type: connect.TypeInt, Default: "2000", HasDefault: true, Importance: connect.Low,
			Doc: "The maximum number of records the task returns from one poll.", Validate: connect.AtLeast(1), Into: connect.IntoInt(&o.batchSize)},
		{Name: PollIntervalConfig, Type: connect.TypeLong, Default: "200", HasDefault: true, Importance: connect.Low,
			Doc: "How long to wait at end of file before checking for appended data, in ms.", Validate: connect.AtLeast(1), Into: connect.IntoMillis(&o.interval)},
	}
}

// Check implements connect.Options: the source has no cross-key rules.
func (o *sourceOptions) Check() error { return nil }

func stdinDash(v string) (string, error) {
	if v == "-" {
		return "", nil
	}
	return v, nil
}

// sinkOptions is the bound configuration of the file sink.
type sinkOptions struct {
	filename string // "" writes stdout
}

var _ connect.Options = (*sinkOptions)(nil)

// Keys implements connect.Options.
func (o *sinkOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: FileConfig, Type: connect.TypeString, HasDefault: true, Importance: connect.High,
			Doc: "Destination filename, appended to. If empty, records are written to stdout.", Into: connect.IntoString(&o.filename)},
	}
}

// Check implements connect.Options: the sink has no cross-key rules.
func (o *sinkOptions) Check() error { return nil }

// noOptions is the (empty) configuration of the log sink.
type noOptions struct{}

// Keys implements connect.Options.
func (noOptions) Keys() connect.ConfigDef { return connect.ConfigDef{} }

// Check implements connect.Options.
func (noOptions) Check() error { return nil }

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}
