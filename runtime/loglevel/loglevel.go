// Package loglevel gives slog loggers names and levels that change at run
// time, for Kafka Connect's /admin/loggers API (KIP-495).
//
// A logger's name comes from its attributes: an explicit "logger"
// attribute, else "sluice.<component>" for a "component" attribute, with
// ".<connector>" appended for a "connector" attribute (so one connector's
// logs can be turned up alone). Names are dot-separated and hierarchical:
// a level set for "sluice.connector" applies to "sluice.connector.orders"
// unless that has its own. Unnamed loggers use the root level.
package loglevel

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Root is the name of the root logger.
const Root = "root"

// Kafka's (log4j's) level names beyond slog's four.
const (
	LevelTrace = slog.LevelDebug - 4
	LevelFatal = slog.LevelError + 4
	LevelOff   = slog.Level(1 << 20)
)

// Info is one logger's level as /admin/loggers reports it.
type Info struct {
	Level string `json:"level"`
	// LastModified is when the level was last set at run time (Unix ms),
	// nil if never (KIP-976).
	LastModified *int64 `json:"last_modified"`
}

// Levels holds the run-time levels. Its Handler wraps the process's slog
// handler; the wrapped handler should let every level through (its own
// level filter would hide what Levels enables).
type Levels struct {
	mu       sync.RWMutex
	root     slog.Level
	rootMod  *int64
	set      map[string]slog.Level
	modified map[string]int64
	seen     map[string]bool
	now      func() time.Time
}

// New returns Levels with the given root level.
func New(root slog.Level) *Levels {
	return &Levels{root: root, set: map[string]slog.Level{}, modified: map[string]int64{}, seen: map[string]bool{}, now: time.Now}
}

// ParseLevel reads a log4j level name (TRACE, DEBUG, INFO, WARN, ERROR,
// FATAL, OFF), case-insensitively.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return LevelTrace, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL":
		return LevelFatal, nil
	case "OFF":
		return LevelOff, nil
	}
	//lint:ignore ST1005 Kafka Connect's /admin/loggers message, verbatim
	return 0, fmt.Errorf("Invalid log level '%s'.", s)
}

// LevelName renders a level with log4j's names.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelOff:
		return "OFF"
	case l >= LevelFatal:
		return "FATAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= slog.LevelDebug:
		return "DEBUG"
	}
	return "TRACE"
}

// effective returns the level for a logger name: its own, its nearest
// ancestor's, or the root's. The caller holds mu.
func (l *Levels) effective(name string) slog.Level {
	for n := name; n != ""; {
		if lv, ok := l.set[n]; ok {
			return lv
		}
		i := strings.LastIndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[:i]
	}
	return l.root
}

// Level returns a logger's effective level; false for a name that was
// neither seen nor set.
func (l *Levels) Level(name string) (Info, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if name == Root {
		return Info{Level: LevelName(l.root), LastModified: l.rootMod}, true
	}
	_, set := l.set[name]
	if !set && !l.seen[name] {
		return Info{}, false
	}
	info := Info{Level: LevelName(l.effective(name))}
	if ms, ok := l.modified[name]; ok {
		info.LastModified = &ms
	}
	return info, true
}

// All returns every logger seen or set, and the root.
func (l *Levels) All() map[string]Info {
	l.mu.RLock()
	names := []string{Root}
	for n := range l.seen {
		names = append(names, n)
	}
	for n := range l.set {
		if !l.seen[n] {
			names = append(names, n)
		}
	}
	l.mu.RUnlock()
	out := make(map[string]Info, len(names))
	for _, n := range names {
		if info, ok := l.Level(n); ok {
			out[n] = info
		}
	}
	return out
}

// Set sets the level of a logger and, like Kafka, of every known logger
// below it in the hierarchy; it returns the names affected, sorted.
func (l *Levels) Set(name, level string) ([]string, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("logger name must not be empty")
	}
	now := l.now().UnixMilli()
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == Root {
		l.root, l.rootMod = lv, &now
		// The root's level applies to loggers without their own.
		return []string{Root}, nil
	}
	affected := []string{name}
	l.set[name], l.modified[name] = lv, now
	for n := range l.seen {
		if strings.HasPrefix(n, name+".") {
			l.set[n], l.modified[n] = lv, now
			affected = append(affected, n)
		}
	}
	for n := range l.set {
		if strings.HasPrefix(n, name+".") && !l.seen[n] {
			l.set[n], l.modified[n] = lv, now
			affected = append(affected, n)
		}
	}
	sort.Strings(affected)
	return affected, nil
}

// Handler wraps h so records are filtered by their logger's level.
func (l *Levels) Handler(h slog.Handler) slog.Handler { return &handler{l: l, inner: h} }

type handler struct {
	l         *Levels
	inner     slog.Handler
	name      string // "" = root
	component string
}

func (h *handler) Enabled(ctx context.Context, lv slog.Level) bool {
	h.l.mu.RLock()
	floor := h.l.root
	if h.name != "" {
		floor = h.l.effective(h.name)
	}
	h.l.mu.RUnlock()
	return lv >= floor && h.inner.Enabled(ctx, lv)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error { return h.inner.Handle(ctx, r) }

func (h *handler) WithGroup(g string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(g)
	return &c
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	for _, a := range as {
		switch a.Key {
		case "logger":
			c.name = a.Value.String()
		case "component":
			c.component = a.Value.String()
			c.name = "sluice." + c.component
		case "connector":
			base := c.name
			if base == "" {
				base = "sluice.connector"
			}
			c.name = base + "." + a.Value.String()
		}
	}
	if c.name != "" && c.name != h.name {
		h.l.mu.Lock()
		h.l.seen[c.name] = true
		h.l.mu.Unlock()
	}
	return &c
}

// Of returns the Levels whose Handler made l's handler, or nil.
func Of(l *slog.Logger) *Levels {
	if h, ok := l.Handler().(*handler); ok {
		return h.l
	}
	return nil
}
