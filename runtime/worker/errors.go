package worker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	errClosed            = errors.New("worker closed")
	errBadKey            = errors.New("malformed internal topic record")
	errInconsistentTasks = errors.New("task configs commit without all task records")
	errNotLeader         = errors.New("not the group leader")
)

var errGroupIDNotFound = kerr.GroupIDNotFound
