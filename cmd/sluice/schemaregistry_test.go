package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestSchemaRegistryCommand runs `sluice schema-registry` against a broker,
// registers a schema through its REST API and stops it with the context.
func TestSchemaRegistryCommand(t *testing.T) {
	addr := testenv.StartBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"schema-registry", "--bootstrap-servers", addr, "--listen", "127.0.0.1:0", "--compatibility", "full"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	var url string
	deadline := time.Now().Add(60 * time.Second)
	for url == "" {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stderr: %s", stderr.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	var body string
	for {
		resp, err := http.Post(url+"/subjects/cli-value/versions", "application/json", strings.NewReader(`{"schema":"\"string\""}`))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("register: %v %s", err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body != "{\"id\":1}\n" {
		t.Fatalf("register answered %q", body)
	}
	resp, err := http.Get(url + "/config")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"FULL"`) {
		t.Fatalf("config %s, want FULL from --compatibility", b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("schema-registry did not stop")
	}
	if code := run(context.Background(), []string{"schema-registry", "--compatibility", "sideways"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad --compatibility: exit %d, want 2", code)
	}
}

// TestUpEmbedsSchemaRegistry: `sluice up` serves a schema registry on the
// embedded broker and prints its URL.
func TestUpEmbedsSchemaRegistry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--data-dir", t.TempDir(), "--kafka-listen", "127.0.0.1:0", "--rest-listen", "127.0.0.1:0",
			"--schema-registry-listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("sluice up did not stop")
		}
	}()
	re := regexp.MustCompile(`Schema Registry\s+(http://\S+)`)
	deadline := time.Now().Add(90 * time.Second)
	var url string
	for url == "" {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no schema registry URL printed; stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for {
		resp, err := http.Post(url+"/subjects/up-value/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(`{"schema":"\"long\""}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("register with the embedded registry: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
