package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(api.ErrorResponse{ErrorCode: code, Message: "encoding response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.ErrorResponse{ErrorCode: code, Message: msg})
}

func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	writeError(w, http.StatusBadRequest, msg)
}

// fail answers a Cluster error with its status code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ctx context.Context, err error) {
	code, msg := http.StatusInternalServerError, err.Error()
	var ve *api.ValidationError
	switch {
	case errors.As(err, &ve):
		code = http.StatusBadRequest
	case errors.Is(err, api.ErrNotFound):
		code, msg = http.StatusNotFound, trimKind(msg, api.ErrNotFound)
	case errors.Is(err, api.ErrConflict):
		code, msg = http.StatusConflict, trimKind(msg, api.ErrConflict)
	case errors.Is(err, api.ErrBadRequest):
		code, msg = http.StatusBadRequest, trimKind(msg, api.ErrBadRequest)
	case errors.Is(err, api.ErrForbidden):
		code, msg = http.StatusForbidden, trimKind(msg, api.ErrForbidden)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil:
		msg = errTimeout.Error()
	}
	if code == http.StatusInternalServerError {
		s.o.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.o.logger.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	writeError(w, code, msg)
}

// trimKind drops a trailing ": not found" style suffix that only carries
// the error kind, keeping the message readable.
func trimKind(msg string, kind error) string {
	if t := strings.TrimSuffix(msg, ": "+kind.Error()); t != "" {
		return t
	}
	return msg
}

// decode reads the request body as one JSON value into v, answering 400
// (naming the byte offset or field at fault) or 413 on failure.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		// Kafka Connect's resources consume application/json only.
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("HTTP 415 Unsupported Media Type: Content-Type %q is not JSON; send application/json", ct))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds the limit of %d bytes", mb.Limit))
			return false
		}
		s.badRequest(w, r, "Reading request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		s.badRequest(w, r, "Request body is empty; expected a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		s.badRequest(w, r, describeJSONError(err, body))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.badRequest(w, r, fmt.Sprintf("Invalid JSON: unexpected data after the top-level value at byte offset %d", dec.InputOffset()))
		return false
	}
	return true
}

func describeJSONError(err error, body []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off := se.Offset - 1 // Offset counts the bytes read, including the bad one
		if off < 0 {
			off = 0
		}
		return fmt.Sprintf("Invalid JSON at byte offset %d%s: %v", off, lineCol(body, off), se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("Invalid JSON: field %s must be %s, got JSON %s (byte offset %d)", field, jsonKind(te.Type.Kind().String()), te.Value, te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("Invalid JSON: unexpected end of input at byte offset %d", len(body))
	default:
		return "Invalid JSON: " + err.Error()
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	default:
		return "a " + goKind
	}
}

// lineCol renders " (line L, column C)" for a byte offset.
func lineCol(body []byte, off int64) string {
	if off < 0 || off > int64(len(body)) {
		return ""
	}
	pre := body[:off]
	line := bytes.Count(pre, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(pre, '\n')
	if bytes.LastIndexByte(pre, '\n') < 0 {
		col = int(off) + 1
	}
	return fmt.Sprintf(" (line %d, column %d)", line, col)
}

// stringConfig converts a decoded JSON object into a string config. Like
// Kafka Connect, numbers and booleans are accepted as their text; null,
// objects and arrays are rejected naming the key (prefixed for messages).
func stringConfig(raw map[string]any, prefix string) (map[string]string, error) {
	cfg := make(map[string]string, len(raw))
	for k, v := range raw {
		s, err := configString(k, v, prefix)
		if err != nil {
			return nil, err
		}
		cfg[k] = s
	}
	return cfg, nil
}

func configString(k string, v any, prefix string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case nil:
		return "", fmt.Errorf("Invalid value for configuration %s%s: null is not allowed (omit the key instead)", prefix, k)
	default:
		return "", fmt.Errorf("Invalid value for configuration %s%s: expected a string, number or boolean, got a JSON %s", prefix, k, jsonKindOf(v))
	}
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// isSecretKey reports whether a key name looks like a secret. The worker
// masks PASSWORD keys it knows from the connector's ConfigDef; this is a
// second line of defence for responses built from raw configs.
// Kafka client JAAS configs (sasl.jaas.config, also under
// producer.override. and friends) embed credentials too.
func isSecretKey(k string) bool {
	return connect.ConfigDef(nil).Secret(k) || strings.HasSuffix(strings.ToLower(k), "sasl.jaas.config")
}

// maskSecrets returns cfg with secret-looking values replaced by
// "[hidden]". cfg is not modified.
func maskSecrets(cfg map[string]string) map[string]string {
	if cfg == nil {
		return map[string]string{}
	}
	var out map[string]string
	for k, v := range cfg {
		if v != "" && v != hidden && isSecretKey(k) {
			if out == nil {
				out = make(map[string]string, len(cfg))
				for k2, v2 := range cfg {
					out[k2] = v2
				}
			}
			out[k] = hidden
		}
	}
	if out == nil {
		return cfg
	}
	return out
}

// mask applies secret masking to a config in a response, unless the
// cluster says it returns configs verbatim (see SecretMasker).
func (s *Server) mask(cfg map[string]string) map[string]string {
	if m, ok := s.c.(SecretMasker); ok && !m.MasksSecrets() {
		if cfg == nil {
			return map[string]string{}
		}
		return cfg
	}
	return maskSecrets(cfg)
}

// javaMap renders a config like Java's Map.toString ({k=v, ...}, sorted
// here), for messages Kafka words that way. Secret-looking values are
// hidden.
func javaMap(cfg map[string]string) string {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		v := cfg[k]
		if isSecretKey(k) && v != "" {
			v = hidden
		}
		b.WriteString(k + "=" + v)
	}
	b.WriteByte('}')
	return b.String()
}

// isJSONType reports whether a Content-Type is JSON (application/json or
// a +json type, any parameters).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
