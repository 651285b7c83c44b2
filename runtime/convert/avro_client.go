package convert

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// registryClient is a small client of Confluent Schema Registry's REST API,
// enough for the AvroConverter: register, look up latest, fetch by id.
type registryClient struct {
	urls []string
	auth string // "user:password" for basic auth, or ""
	http *http.Client
}

// RegistryError is an error answer of the schema registry.
type RegistryError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	URL     string
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("schema registry %s: HTTP %d error_code %d: %s", e.URL, e.Status, e.Code, e.Message)
}

func newRegistryClient(urls, auth string) *registryClient {
	var us []string
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			us = append(us, u)
		}
	}
	return &registryClient{urls: us, auth: auth, http: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request to each URL in turn until one answers.
func (c *registryClient) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	var lastErr error
	for _, base := range c.urls {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
		if c.auth != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.auth)))
		}
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = fmt.Errorf("schema registry %s: %w", base, err)
			continue
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = fmt.Errorf("schema registry %s: %w", base, err)
			continue
		}
		if resp.StatusCode >= 300 {
			re := &RegistryError{Status: resp.StatusCode, URL: base + path}
			if json.Unmarshal(data, re) != nil {
				re.Message = string(data)
			}
			if resp.StatusCode >= 500 {
				lastErr = re
				continue
			}
			return re
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("schema registry %s: bad answer %q: %w", base+path, data, err)
		}
		return nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("schema registry: no URL configured")
	}
	return lastErr
}

type registeredSchema struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
}

func (c *registryClient) register(ctx context.Context, subject, schema string) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	err := c.do(ctx, "POST", "/subjects/"+url.PathEscape(subject)+"/versions", map[string]string{"schema": schema}, &out)
	return out.ID, err
}

// lookup finds schema under subject without registering it.
func (c *registryClient) lookup(ctx context.Context, subject, schema string) (int, error) {
	var out registeredSchema
	err := c.do(ctx, "POST", "/subjects/"+url.PathEscape(subject), map[string]string{"schema": schema}, &out)
	return out.ID, err
}

func (c *registryClient) latest(ctx context.Context, subject string) (registeredSchema, error) {
	var out registeredSchema
	err := c.do(ctx, "GET", "/subjects/"+url.PathEscape(subject)+"/versions/latest", nil, &out)
	return out, err
}

func (c *registryClient) byID(ctx context.Context, id int) (string, error) {
	var out struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil, &out); err != nil {
		return "", err
	}
	if out.SchemaType != "" && out.SchemaType != "AVRO" {
		return "", fmt.Errorf("schema registry: schema id %d is %s, not AVRO", id, out.SchemaType)
	}
	return out.Schema, nil
}
