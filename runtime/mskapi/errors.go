package mskapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is an MSK Connect error: an HTTP status, the exception type sent
// in the x-amzn-ErrorType header, and {"message": ...} as the body.
type Error struct {
	Status  int
	Type    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Type + ": " + e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{http.StatusBadRequest, "BadRequestException", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{http.StatusNotFound, "NotFoundException", fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *Error {
	return &Error{http.StatusConflict, "ConflictException", fmt.Sprintf(format, args...)}
}

func unauthorized(format string, args ...any) *Error {
	return &Error{http.StatusUnauthorized, "UnauthorizedException", fmt.Sprintf(format, args...)}
}

func internal(err error) *Error {
	return &Error{http.StatusInternalServerError, "InternalServerErrorException", err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("x-amzn-ErrorType", e.Type)
	writeJSON(w, e.Status, map[string]string{"message": e.Message})
}
