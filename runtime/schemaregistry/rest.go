package schemaregistry

import (
	"encoding/json"
	"errors"
	"github.com/hamba/avro/v2"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// Handler returns the REST API. Reads are served locally; writes are
// served by the primary and forwarded to it by the other instances.
func (r *Registry) Handler() http.Handler {
	reads := http.NewServeMux()
	reads.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]any{}) })
	reads.HandleFunc("GET /subjects", r.getSubjects)
	reads.HandleFunc("GET /subjects/{subject}/versions", r.getVersions)
	reads.HandleFunc("GET /subjects/{subject}/versions/{version}", r.getVersion)
	reads.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", r.getVersionSchema)
	reads.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy)
	reads.HandleFunc("POST /subjects/{subject}", r.lookup)
	reads.HandleFunc("GET /schemas/ids/{id}", r.getByID)
	reads.HandleFunc("GET /schemas/ids/{id}/schema", r.getByIDRaw)
	reads.HandleFunc("GET /schemas/ids/{id}/subjects", r.getIDSubjects)
	reads.HandleFunc("GET /schemas/ids/{id}/versions", r.getIDVersions)
	reads.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, []string{"AVRO"}) })
	reads.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", r.testCompat)
	reads.HandleFunc("POST /compatibility/subjects/{subject}/versions", r.testCompat)
	reads.HandleFunc("GET /config", r.getConfig)
	reads.HandleFunc("GET /config/{subject}", r.getConfig)
	reads.HandleFunc("GET /mode", r.getMode)
	reads.HandleFunc("GET /mode/{subject}", r.getMode)

	writes := http.NewServeMux()
	writes.HandleFunc("POST /subjects/{subject}/versions", r.postVersion)
	writes.HandleFunc("DELETE /subjects/{subject}", r.deleteSubject)
	writes.HandleFunc("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	writes.HandleFunc("PUT /config", r.putConfig)
	writes.HandleFunc("PUT /config/{subject}", r.putConfig)
	writes.HandleFunc("DELETE /config/{subject}", r.deleteConfig)
	writes.HandleFunc("DELETE /config", r.deleteConfig)
	writes.HandleFunc("PUT /mode", r.putMode)
	writes.HandleFunc("PUT /mode/{subject}", r.putMode)

	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, pat := writes.Handler(req); pat != "" {
			body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
			if err != nil {
				writeErr(w, errf(400, 400, "reading request body: %v", err))
				return
			}
			switch {
			case r.el.isPrimary():
				req.Body = io.NopCloser(strings.NewReader(string(body)))
				writes.ServeHTTP(w, req)
			case req.Header.Get(forwardedHeader) != "":
				// Forwarded here, but this instance is no longer primary:
				// refuse rather than write next to the real primary.
				writeErr(w, errf(500, codeForwardError, "Error while forwarding the request: %s is not the primary", r.o.url))
			default:
				r.forward(w, req, body, func(w http.ResponseWriter, req *http.Request) { writes.ServeHTTP(w, req) })
			}
			return
		}
		if _, pat := reads.Handler(req); pat == "" {
			writeErr(w, errf(404, 404, "HTTP 404 Not Found"))
			return
		}
		reads.ServeHTTP(w, req)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(500, 50001, "%v", err)
	}
	writeJSON(w, ae.status, map[string]any{"error_code": ae.code, "message": ae.msg})
}

func boolQuery(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

func readSchemaRequest(req *http.Request) (schemaRequest, error) {
	var sr schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&sr); err != nil {
		return sr, errf(422, 422, "Unrecognized request body: %v", err)
	}
	if strings.TrimSpace(sr.Schema) == "" {
		return sr, errf(422, codeInvalidSchema, "Invalid schema: empty schema")
	}
	return sr, nil
}

// schemaResponse is a subject version as the API returns it.
type schemaResponse struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func toResponse(v *schemaValue) schemaResponse {
	return schemaResponse{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: v.SchemaType, References: v.References, Schema: v.Schema}
}

func (r *Registry) getSubjects(w http.ResponseWriter, req *http.Request) {
	r.st.mu.RLock()
	names := r.st.subjectNames(boolQuery(req, "deleted"))
	r.st.mu.RUnlock()
	if names == nil {
		names = []string{}
	}
	writeJSON(w, 200, names)
}

func (r *Registry) getVersions(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.st.mu.RLock()
	vs := r.st.versions(subject, boolQuery(req, "deleted"))
	r.st.mu.RUnlock()
	if len(vs) == 0 {
		writeErr(w, errf(404, codeSubjectNotFound, "Subject '%s' not found.", subject))
		return
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	writeJSON(w, 200, out)
}

// version resolves a version path segment ("latest", "-1" or a number).
// The state read lock is held.
func (r *Registry) version(subject, ver string, deleted bool) (*schemaValue, error) {
	vs := r.st.versions(subject, true)
	if len(r.st.versions(subject, deleted)) == 0 {
		return nil, errf(404, codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	if ver == "latest" || ver == "-1" {
		live := r.st.versions(subject, deleted)
		return live[len(live)-1], nil
	}
	n, err := strconv.Atoi(ver)
	if err != nil || n <= 0 {
		return nil, errf(422, codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", ver)
	}
	for _, v := range vs {
		if v.Version == n && (deleted || !v.Deleted) {
			return v, nil
		}
	}
	return nil, errf(404, codeVersionNotFound, "Version %d not found.", n)
}

func (r *Registry) getVersion(w http.ResponseWriter, req *http.Request) {
	r.st.mu.RLock()
	v, err := r.version(req.PathValue("subject"), req.PathValue("version"), boolQuery(req, "deleted"))
	r.st.mu.RUnlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, toResponse(v))
}

func (r *Registry) getVersionSchema(w http.ResponseWriter, req *http.Request) {
	r.st.mu.RLock()
	v, err := r.version(req.PathValue("subject"), req.PathValue("version"), boolQuery(req, "deleted"))
	r.st.mu.RUnlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, v.Schema)
}

func (r *Registry) getReferencedBy(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.st.mu.RLock()
	defer r.st.mu.RUnlock()
	v, err := r.version(subject, req.PathValue("version"), false)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, r.referencedBy(subject, v.Version))
}

// referencedBy lists ids of live schemas referencing subject/version; the
// read lock is held.
func (r *Registry) referencedBy(subject string, version int) []int {
	out := []int{}
	for _, name := range r.st.subjectNames(false) {
		for _, v := range r.st.versions(name, false) {
			for _, ref := range v.References {
				if ref.Subject == subject && ref.Version == version {
					out = append(out, v.ID)
				}
			}
		}
	}
	return out
}

func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	sr, err := readSchemaRequest(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	canon, err := canonical(sr.Schema)
	if err != nil {
		writeErr(w, err)
		return
	}
	if sr.SchemaType == "AVRO" {
		sr.SchemaType = ""
	}
	if _, err := r.parse(canon, sr.SchemaType, sr.References); err != nil {
		writeErr(w, err)
		return
	}
	r.st.mu.RLock()
	vs := r.st.versions(subject, boolQuery(req, "deleted"))
	r.st.mu.RUnlock()
	if len(vs) == 0 {
		writeErr(w, errf(404, codeSubjectNotFound, "Subject '%s' not found.", subject))
		return
	}
	for _, v := range vs {
		if v.Schema == canon && v.SchemaType == sr.SchemaType {
			writeJSON(w, 200, toResponse(v))
			return
		}
	}
	writeErr(w, errf(404, codeSchemaNotFound, "Schema not found"))
}

func (r *Registry) byID(req *http.Request) (*schemaValue, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil {
		return nil, errf(404, codeSchemaNotFound, "Schema %s not found", req.PathValue("id"))
	}
	r.st.mu.RLock()
	v := r.st.ids[id]
	r.st.mu.RUnlock()
	if v == nil {
		return nil, errf(404, codeSchemaNotFound, "Schema %d not found", id)
	}
	return v, nil
}

func (r *Registry) getByID(w http.ResponseWriter, req *http.Request) {
	v, err := r.byID(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, struct {
		SchemaType string      `json:"schemaType,omitempty"`
		References []Reference `json:"references,omitempty"`
		Schema     string      `json:"schema"`
	}{v.SchemaType, v.References, v.Schema})
}

func (r *Registry) getByIDRaw(w http.ResponseWriter, req *http.Request) {
	v, err := r.byID(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, v.Schema)
}

// idUses lists the subject versions using schema id.
func (r *Registry) idUses(req *http.Request) ([]*schemaValue, error) {
	v, err := r.byID(req)
	if err != nil {
		return nil, err
	}
	deleted := boolQuery(req, "deleted")
	r.st.mu.RLock()
	defer r.st.mu.RUnlock()
	var out []*schemaValue
	for _, name := range r.st.subjectNames(true) {
		for _, sv := range r.st.versions(name, deleted) {
			if sv.ID == v.ID {
				out = append(out, sv)
			}
		}
	}
	return out, nil
}

func (r *Registry) getIDSubjects(w http.ResponseWriter, req *http.Request) {
	uses, err := r.idUses(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []string{}
	for _, u := range uses {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	writeJSON(w, 200, out)
}

func (r *Registry) getIDVersions(w http.ResponseWriter, req *http.Request) {
	uses, err := r.idUses(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, u := range uses {
		out = append(out, sv{u.Subject, u.Version})
	}
	writeJSON(w, 200, out)
}

func (r *Registry) testCompat(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	sr, err := readSchemaRequest(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	if sr.SchemaType == "AVRO" {
		sr.SchemaType = ""
	}
	cand, err := r.parse(sr.Schema, sr.SchemaType, sr.References)
	if err != nil {
		writeErr(w, err)
		return
	}
	r.st.mu.RLock()
	level := r.compat(subject)
	live := r.st.versions(subject, false)
	var against []*schemaValue
	if ver := req.PathValue("version"); ver != "" {
		v, err := r.version(subject, ver, false)
		if err != nil {
			r.st.mu.RUnlock()
			var ae *apiError
			if errors.As(err, &ae) && ae.code == codeSubjectNotFound {
				writeJSON(w, 200, map[string]any{"is_compatible": true})
				return
			}
			writeErr(w, err)
			return
		}
		against = []*schemaValue{v}
		if level.transitive() {
			against = live
		}
	} else {
		against = live
		if !level.transitive() {
			level = Compatibility(string(level) + "_TRANSITIVE")
			if level == "NONE_TRANSITIVE" {
				level = None
			}
		}
	}
	r.st.mu.RUnlock()
	var existing []avro.Schema
	for _, v := range against {
		s, err := r.parse(v.Schema, v.SchemaType, v.References)
		if err != nil {
			writeErr(w, errf(500, codeStoreError, "stored schema %s/%d: %v", subject, v.Version, err))
			return
		}
		existing = append(existing, s)
	}
	msgs := CheckCompatibility(level, cand, existing)
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if boolQuery(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	writeJSON(w, 200, out)
}

func (r *Registry) getConfig(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.st.mu.RLock()
	c, ok := r.st.config[subject]
	if subject == "" && !ok {
		c, ok = r.o.compat, true
	}
	if !ok && boolQuery(req, "defaultToGlobal") {
		c, ok = r.compat(subject), true
	}
	r.st.mu.RUnlock()
	if !ok {
		writeErr(w, errf(404, 40408, "Subject '%s' does not have subject-level compatibility configured", subject))
		return
	}
	writeJSON(w, 200, map[string]string{"compatibilityLevel": string(c)})
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeErr(w, errf(422, 422, "Unrecognized request body: %v", err))
		return
	}
	c, err := ParseCompatibility(body.Compatibility)
	if err != nil {
		writeErr(w, errf(422, codeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"))
		return
	}
	if err := r.writeKey(req.Context(), keyConfig, req.PathValue("subject"), configValue{CompatibilityLevel: string(c)}); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"compatibility": string(c)})
}

func (r *Registry) deleteConfig(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.st.mu.RLock()
	c, ok := r.st.config[subject]
	r.st.mu.RUnlock()
	if !ok {
		c = r.o.compat
	}
	if err := r.writeKey(req.Context(), keyConfig, subject, nil); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"compatibilityLevel": string(c)})
}

func (r *Registry) getMode(w http.ResponseWriter, req *http.Request) {
	r.st.mu.RLock()
	m := r.st.modeOf(req.PathValue("subject"))
	r.st.mu.RUnlock()
	writeJSON(w, 200, map[string]string{"mode": m})
}

func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeErr(w, errf(422, 422, "Unrecognized request body: %v", err))
		return
	}
	m := strings.ToUpper(body.Mode)
	switch m {
	case "READWRITE", "READONLY", "IMPORT":
	default:
		writeErr(w, errf(422, codeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT"))
		return
	}
	if err := r.writeKey(req.Context(), keyMode, req.PathValue("subject"), modeValue{Mode: m}); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"mode": m})
}

func (r *Registry) postVersion(w http.ResponseWriter, req *http.Request) {
	sr, err := readSchemaRequest(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	res, err := r.register(req.Context(), req.PathValue("subject"), sr.Schema, sr.SchemaType, sr.References, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]int{"id": res.ID})
}

func (r *Registry) deleteSubject(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	permanent := boolQuery(req, "permanent")
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.st.mu.RLock()
	all := r.st.versions(subject, true)
	live := r.st.versions(subject, false)
	r.st.mu.RUnlock()
	if len(all) == 0 {
		writeErr(w, errf(404, codeSubjectNotFound, "Subject '%s' not found.", subject))
		return
	}
	out := []int{}
	if permanent {
		if len(live) > 0 {
			writeErr(w, errf(404, codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject))
			return
		}
		for _, v := range all {
			if err := r.hardDelete(req.Context(), subject, v.Version); err != nil {
				writeErr(w, err)
				return
			}
			out = append(out, v.Version)
		}
		writeJSON(w, 200, out)
		return
	}
	if len(live) == 0 {
		writeErr(w, errf(404, codeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject))
		return
	}
	for _, v := range live {
		cp := *v
		cp.Deleted = true
		ctx := req.Context()
		if err := r.writeSchema(ctx, cp); err != nil {
			writeErr(w, err)
			return
		}
		out = append(out, v.Version)
	}
	writeJSON(w, 200, out)
}

func (r *Registry) deleteVersion(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	permanent := boolQuery(req, "permanent")
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.st.mu.RLock()
	v, err := r.version(subject, req.PathValue("version"), permanent)
	var refs []int
	if err == nil {
		refs = r.referencedBy(subject, v.Version)
	}
	r.st.mu.RUnlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(refs) > 0 {
		writeErr(w, errf(422, codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}", subject, v.Version))
		return
	}
	if permanent {
		if !v.Deleted {
			writeErr(w, errf(404, codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version))
			return
		}
		if err := r.hardDelete(req.Context(), subject, v.Version); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, v.Version)
		return
	}
	cp := *v
	cp.Deleted = true
	if err := r.writeSchema(req.Context(), cp); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, v.Version)
}
