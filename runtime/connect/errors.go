package connect

import (
	"errors"
	"fmt"
)

// RetriableError marks an error as transient: the runtime retries the
// operation with backoff instead of failing the task — a task's Open per
// errors.max.retries / errors.retry.delay.initial.ms / .max.ms (Debezium's
// semantics), Poll and Put until they succeed, record operations within
// errors.retry.timeout.
type RetriableError struct{ Err error }

func (e *RetriableError) Error() string { return "retriable: " + e.Err.Error() }
func (e *RetriableError) Unwrap() error { return e.Err }

// Retriable wraps err as a RetriableError.
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return &RetriableError{Err: err}
}

// IsRetriable reports whether err is or wraps a RetriableError.
func IsRetriable(err error) bool {
	var re *RetriableError
	return errors.As(err, &re)
}

// ConfigError reports an invalid configuration value, naming the key.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("invalid config %q: %s", e.Key, e.Msg) }

// Errorf returns a ConfigError for key with a formatted message.
func Errorf(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}
