package s3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// errNotFound is returned by storage.get for a missing object.
var errNotFound = errors.New("object not found")

// StorageError reports a failed storage operation on one object key.
type StorageError struct {
	Op  string
	Key string
	Err error
}

func (e *StorageError) Error() string { return fmt.Sprintf("s3 sink: %s %s: %v", e.Op, e.Key, e.Err) }
func (e *StorageError) Unwrap() error { return e.Err }

// storage is where committed files go: an S3 bucket or a local directory.
type storage interface {
	// create starts writing an object; nothing is visible until commit.
	create(ctx context.Context, key string) (upload, error)
	get(ctx context.Context, key string) ([]byte, error)
	put(ctx context.Context, key string, data []byte) error
	// remove deletes an object; a missing object is not an error.
	remove(ctx context.Context, key string) error
}

// upload is one object being written. Writes may upload multipart parts
// as they fill; commit makes the object visible atomically, abort discards
// everything (including parts already uploaded).
type upload interface {
	io.Writer
	commit(ctx context.Context) error
	abort(ctx context.Context) error
	// memBytes is the number of bytes held in memory.
	memBytes() int64
	// spill moves in-memory bytes to disk.
	spill() error
}

// spillBuffer holds bytes in memory until spilled to a temporary file.
type spillBuffer struct {
	dir string
	mem []byte
	f   *os.File
	n   int64
}

func (b *spillBuffer) Write(p []byte) (int, error) {
	if b.f != nil {
		n, err := b.f.Write(p)
		b.n += int64(n)
		return n, err
	}
	b.mem = append(b.mem, p...)
	b.n += int64(len(p))
	return len(p), nil
}

func (b *spillBuffer) spill() error {
	if b.f != nil || len(b.mem) == 0 {
		return nil
	}
	f, err := os.CreateTemp(b.dir, "sluice-s3-*.buf")
	if err != nil {
		return fmt.Errorf("spill buffer: %w", err)
	}
	if _, err := f.Write(b.mem); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("spill buffer: %w", err)
	}
	b.f, b.mem = f, nil
	return nil
}

func (b *spillBuffer) memBytes() int64 { return int64(len(b.mem)) }

func (b *spillBuffer) reader() io.ReadSeeker {
	if b.f != nil {
		return io.NewSectionReader(b.f, 0, b.n)
	}
	return bytes.NewReader(b.mem)
}

func (b *spillBuffer) close() {
	if b.f != nil {
		b.f.Close()
		os.Remove(b.f.Name())
		b.f = nil
	}
	b.mem = nil
}

// s3Storage writes to an S3 bucket.
type s3Storage struct {
	client   *s3.Client
	bucket   string
	partSize int64
	spillDir string
	sse      types.ServerSideEncryption
	kmsKeyID *string
	acl      types.ObjectCannedACL
}

func (s *s3Storage) putInput(key string, body io.ReadSeeker, n int64) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: body, ContentLength: aws.Int64(n),
		ServerSideEncryption: s.sse, SSEKMSKeyId: s.kmsKeyID, ACL: s.acl}
}

func newS3Storage(ctx context.Context, s *settings) (*s3Storage, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(s.region)}
	if s.accessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		o.UsePathStyle = s.pathStyle
		// S3-compatible stores often lack the newer default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	})
	st := &s3Storage{client: client, bucket: s.bucket, partSize: s.partSize, spillDir: s.spillDir,
		sse: types.ServerSideEncryption(s.sse), acl: types.ObjectCannedACL(s.acl)}
	if s.kmsKeyID != "" {
		st.kmsKeyID = aws.String(s.kmsKeyID)
	}
	return st, nil
}

func (s *s3Storage) create(ctx context.Context, key string) (upload, error) {
	return &s3Upload{st: s, key: key, ctx: ctx, buf: spillBuffer{dir: s.spillDir}}, nil
}

func (s *s3Storage) get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || strings.Contains(err.Error(), "StatusCode: 404") {
			return nil, errNotFound
		}
		return nil, &StorageError{"get", key, err}
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, &StorageError{"get", key, err}
	}
	return b, nil
}

func (s *s3Storage) put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.putInput(key, bytes.NewReader(data), int64(len(data))))
	if err != nil {
		return &StorageError{"put", key, err}
	}
	return nil
}

func (s *s3Storage) remove(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return &StorageError{"delete", key, err}
	}
	return nil
}

// maxPartsInFlight bounds the parts of one object uploading in the
// background while encoding continues into the next part.
const maxPartsInFlight = 2

// s3Upload buffers an object and switches to a multipart upload once a
// part's worth of bytes is buffered. Full parts upload in the background
// (at most maxPartsInFlight at a time) while the next part fills; commit
// waits for them, uploads the last part and completes the upload.
type s3Upload struct {
	st       *s3Storage
	key      string
	ctx      context.Context
	buf      spillBuffer
	uploadID string
	nparts   int32
	err      error // sticky

	sem      chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	parts    []types.CompletedPart
	asyncErr error
	inflight atomic.Int64 // in-memory bytes of parts uploading
}

func (u *s3Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n, err := u.buf.Write(p)
	if err != nil {
		u.err = err
		return n, err
	}
	if u.buf.n >= u.st.partSize {
		if err := u.startPart(); err != nil {
			u.err = err
			return n, err
		}
	}
	return n, nil
}

func (u *s3Upload) memBytes() int64 { return u.buf.memBytes() + u.inflight.Load() }
func (u *s3Upload) spill() error    { return u.buf.spill() }

func (u *s3Upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.asyncErr
}

// startPart hands the buffered bytes to a background part upload and
// starts a fresh buffer.
func (u *s3Upload) startPart() error {
	if err := u.failed(); err != nil {
		return err
	}
	if u.uploadID == "" {
		out, err := u.st.client.CreateMultipartUpload(u.ctx, &s3.CreateMultipartUploadInput{Bucket: &u.st.bucket, Key: &u.key,
			ServerSideEncryption: u.st.sse, SSEKMSKeyId: u.st.kmsKeyID, ACL: u.st.acl})
		if err != nil {
			return &StorageError{"create multipart upload", u.key, err}
		}
		u.uploadID = aws.ToString(out.UploadId)
		u.sem = make(chan struct{}, maxPartsInFlight)
	}
	u.nparts++
	num, part := u.nparts, u.buf
	u.buf = spillBuffer{dir: u.st.spillDir}
	select {
	case u.sem <- struct{}{}:
	case <-u.ctx.Done():
		part.close()
		return u.ctx.Err()
	}
	mem := part.memBytes()
	u.inflight.Add(mem)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { <-u.sem }()
		defer u.inflight.Add(-mem)
		defer part.close()
		etag, err := u.uploadPart(u.ctx, num, &part)
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.asyncErr == nil {
				u.asyncErr = err
			}
			return
		}
		u.parts = append(u.parts, types.CompletedPart{ETag: etag, PartNumber: aws.Int32(num)})
	}()
	return nil
}

func (u *s3Upload) uploadPart(ctx context.Context, num int32, b *spillBuffer) (*string, error) {
	out, err := u.st.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &u.st.bucket, Key: &u.key, UploadId: &u.uploadID,
		PartNumber: aws.Int32(num), Body: b.reader(), ContentLength: aws.Int64(b.n)})
	if err != nil {
		return nil, &StorageError{fmt.Sprintf("upload part %d", num), u.key, err}
	}
	return out.ETag, nil
}

func (u *s3Upload) commit(ctx context.Context) error {
	u.wg.Wait()
	defer u.buf.close()
	if u.err != nil {
		return u.err
	}
	if err := u.failed(); err != nil {
		return err
	}
	c := u.st.client
	if u.uploadID == "" {
		_, err := c.PutObject(ctx, u.st.putInput(u.key, u.buf.reader(), u.buf.n))
		if err != nil {
			return &StorageError{"put", u.key, err}
		}
		return nil
	}
	if u.buf.n > 0 {
		u.nparts++
		etag, err := u.uploadPart(ctx, u.nparts, &u.buf)
		if err != nil {
			return err
		}
		u.parts = append(u.parts, types.CompletedPart{ETag: etag, PartNumber: aws.Int32(u.nparts)})
	}
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &u.st.bucket, Key: &u.key,
		UploadId: &u.uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}})
	if err != nil {
		return &StorageError{"complete multipart upload", u.key, err}
	}
	u.uploadID = ""
	return nil
}

func (u *s3Upload) abort(ctx context.Context) error {
	u.wg.Wait()
	u.buf.close()
	if u.uploadID == "" {
		return nil
	}
	id := u.uploadID
	u.uploadID = ""
	_, err := u.st.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.st.bucket, Key: &u.key, UploadId: &id})
	if err != nil {
		return &StorageError{"abort multipart upload", u.key, err}
	}
	return nil
}

// localStorage writes objects as files under a root directory; a file is
// written to a temporary name and renamed into place on commit.
type localStorage struct {
	root string

	mu   sync.Mutex
	dirs map[string]bool // directories known to exist (each Mkdir is a syscall)
	bufs sync.Pool       // *bufio.Writer of localWriteBuffer bytes
}

// tempPrefix starts the name of every file localStorage writes before it
// is renamed into place: ".sluice-tmp-<final name>-<random>". Before
// names carried the final name, they were ".sluice-tmp-<digits>".
const tempPrefix = ".sluice-tmp-"

// isLegacyTemp reports whether name is a temporary file of an older
// sluice (".sluice-tmp-" and digits).
func isLegacyTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeTemps deletes the temporary files a crashed task left under the
// directory of prefix (a key prefix): regular files whose name is
// tempPrefix followed by a final name that own accepts, and temporary
// files of older versions. Nothing else is touched. It is best effort: it
// skips directories it cannot read, returns the keys removed and the first
// error met; a missing directory is not an error.
func (l *localStorage) removeTemps(prefix string, own func(final string) bool) ([]string, error) {
	var removed []string
	var first error
	filepath.WalkDir(l.path(prefix), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && first == nil {
				first = &StorageError{"list temporary files under", prefix, err}
			}
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || !strings.HasPrefix(name, tempPrefix) {
			return nil
		}
		if !isLegacyTemp(name) {
			// ".sluice-tmp-<final>-<random>"
			i := strings.LastIndexByte(name, '-')
			if i < len(tempPrefix) || !own(name[len(tempPrefix):i]) {
				return nil
			}
		}
		rel, _ := filepath.Rel(l.root, p)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			if first == nil {
				first = &StorageError{"remove", filepath.ToSlash(rel), err}
			}
			return nil
		}
		removed = append(removed, filepath.ToSlash(rel))
		return nil
	})
	return removed, first
}

func (l *localStorage) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

func (l *localStorage) create(_ context.Context, key string) (upload, error) {
	u, err := l.createTemp(key)
	if err != nil {
		return nil, err
	}
	w, _ := l.bufs.Get().(*bufio.Writer)
	if w == nil {
		w = bufio.NewWriterSize(u.f, localWriteBuffer)
	} else {
		w.Reset(u.f)
	}
	u.w, u.l = w, l
	return u, nil
}

// createTemp opens the temporary file an object is written to.
func (l *localStorage) createTemp(key string) (*localUpload, error) {
	p := l.path(key)
	dir := filepath.Dir(p)
	l.mu.Lock()
	known := l.dirs[dir]
	l.mu.Unlock()
	// The temporary name carries the final name, so a restarted task can
	// tell its own leftovers (see removeTemps) from other files.
	pattern := tempPrefix + strings.ReplaceAll(filepath.Base(p), "*", "_") + "-*"
	var f *os.File
	var err error
	if known {
		f, err = os.CreateTemp(dir, pattern)
	}
	if !known || errors.Is(err, os.ErrNotExist) { // new, or removed since
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, &StorageError{"create", key, err}
		}
		l.mu.Lock()
		if l.dirs == nil {
			l.dirs = map[string]bool{}
		}
		l.dirs[dir] = true
		l.mu.Unlock()
		f, err = os.CreateTemp(dir, pattern)
	}
	if err != nil {
		return nil, &StorageError{"create", key, err}
	}
	return &localUpload{f: f, final: p, key: key}, nil
}

// localWriteBuffer batches the Parquet writer's many small writes (page
// headers, pages, footer parts) into few write syscalls.
const localWriteBuffer = 256 << 10

func (l *localStorage) get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(l.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, &StorageError{"get", key, err}
	}
	return b, nil
}

func (l *localStorage) put(ctx context.Context, key string, data []byte) error {
	u, err := l.createTemp(key) // unbuffered: one write
	if err != nil {
		return err
	}
	if _, err := u.Write(data); err != nil {
		u.abort(ctx)
		return &StorageError{"put", key, err}
	}
	return u.commit(ctx)
}

func (l *localStorage) remove(_ context.Context, key string) error {
	if err := os.Remove(l.path(key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &StorageError{"delete", key, err}
	}
	return nil
}

type localUpload struct {
	f     *os.File
	w     *bufio.Writer // nil: unbuffered
	l     *localStorage // where w goes back to
	final string
	key   string
}

func (u *localUpload) Write(p []byte) (int, error) {
	if u.w == nil {
		return u.f.Write(p)
	}
	return u.w.Write(p)
}

func (u *localUpload) memBytes() int64 {
	if u.w == nil {
		return 0
	}
	return int64(u.w.Buffered())
}

func (u *localUpload) spill() error {
	if u.w == nil {
		return nil
	}
	return u.w.Flush()
}

// release returns the write buffer to the pool.
func (u *localUpload) release() {
	if u.w != nil {
		u.w.Reset(nil)
		u.l.bufs.Put(u.w)
		u.w = nil
	}
}

func (u *localUpload) commit(context.Context) error {
	err := u.spill()
	u.release()
	if err != nil {
		u.f.Close()
		os.Remove(u.f.Name())
		return &StorageError{"write", u.key, err}
	}
	if err := u.f.Sync(); err != nil {
		u.f.Close()
		os.Remove(u.f.Name())
		return &StorageError{"sync", u.key, err}
	}
	if err := u.f.Close(); err != nil {
		os.Remove(u.f.Name())
		return &StorageError{"close", u.key, err}
	}
	if err := os.Rename(u.f.Name(), u.final); err != nil {
		os.Remove(u.f.Name())
		return &StorageError{"rename", u.key, err}
	}
	if d, err := os.Open(filepath.Dir(u.final)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (u *localUpload) abort(context.Context) error {
	u.release()
	u.f.Close()
	os.Remove(u.f.Name())
	return nil
}
