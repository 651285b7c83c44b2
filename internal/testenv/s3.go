package testenv

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is a versitygw S3 gateway over a POSIX directory.
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	// Dir is the gateway's root directory: one subdirectory per bucket.
	Dir string

	proc *process
}

// StartS3 starts versitygw with the posix backend on a free 127.0.0.1 port.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin, ok := lookPath("versitygw", goBinDirs()...)
	if !ok {
		missing(t, "versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	base := tempDir(t, "s3")
	s := &S3{AccessKey: "sluicetest", SecretKey: "sluicetestsecret", Region: "us-east-1", Dir: filepath.Join(base, "root")}
	if err := mkdir(s.Dir); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	port := FreePort(t)
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "posix", "--sidecar", filepath.Join(base, "meta"), s.Dir)
	if err := mkdir(filepath.Join(base, "meta")); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	proc, err := startProcess("versitygw", cmd)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s.proc = proc
	t.Cleanup(func() { proc.stop(syscall.SIGTERM, 10*time.Second) })
	client := s.newClient()
	err = proc.waitReady(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return s
}

// Pid returns the gateway's process id.
func (s *S3) Pid() int { return s.proc.Pid() }

func (s *S3) newClient() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// Client returns an aws-sdk-go-v2 S3 client for the gateway (path-style,
// static credentials).
func (s *S3) Client(t testing.TB) *s3.Client {
	t.Helper()
	return s.newClient()
}

// CreateBucket creates a bucket and fails the test on error.
func (s *S3) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.newClient().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testenv: create bucket %s: %v", name, err)
	}
}

func goBinDirs() []string {
	var dirs []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(string(trimNL(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return append(dirs, "/root/go/bin")
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func mkdir(d string) error { return os.MkdirAll(d, 0o755) }
