// Package s3 is the S3 blob backend (MinIO, AWS, StackIT, IONOS...) on
// minio-go. Uploads stream: objects up to PartSize go out in one PUT
// without buffering; bigger or unknown-size objects are uploaded in parts
// of PartSize, buffering at most Concurrency parts in memory per upload.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/mediarepo/mediarepo/internal/storage"
)

const (
	// DefaultPartSize is the part size when Config.PartSize is zero.
	DefaultPartSize = 16 << 20
	// MinPartSize is the smallest part S3 accepts (except the last).
	MinPartSize = 5 << 20
	// DefaultConcurrency is the number of parts buffered and uploaded in
	// parallel per upload when Config.Concurrency is zero.
	DefaultConcurrency = 2
	// MaxIdleConnsPerHost is how many idle connections to the endpoint
	// the client keeps. minio-go's default of 16 is the request
	// concurrency of one busy chat server: with uploads' HEADs beside
	// their PUTs, more are in flight at once, and every connection above
	// 16 was closed after its request and dialled anew for the next.
	MaxIdleConnsPerHost = 128
	// lifecycleRuleID names the rule New installs.
	lifecycleRuleID = "mediarepo-abort-incomplete-multipart"
)

// Config says where the bucket is and how uploads are cut. The secret key
// is a credential: callers load it from a file or the environment, never
// log it.
type Config struct {
	Endpoint  string // host:port, no scheme
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string // empty: the server's default
	UseTLS    bool
	// PartSize is the size of one multipart part in bytes (0: 16 MiB,
	// at least 5 MiB). Objects of at most PartSize bytes are uploaded in
	// one PUT.
	PartSize uint64
	// Concurrency is the number of parts uploaded in parallel (0: 2).
	// Each costs one PartSize buffer for the duration of a large upload,
	// so peak upload memory is PartSize*Concurrency per concurrent upload.
	Concurrency uint
}

// Store is an S3 bucket. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	put    minio.PutObjectOptions
	// release collects the part buffers of finished multipart uploads.
	release *partRelease
	// AbortRule reports whether the bucket holds the lifecycle rule that
	// aborts incomplete multipart uploads after a day. AWS S3 accepts it;
	// MinIO refuses it (it has no such action) and instead expires stale
	// uploads itself after MINIO_API_STALE_UPLOADS_EXPIRY, 24h by default,
	// so on MinIO AbortRule is false.
	AbortRule bool
}

var _ storage.Store = (*Store)(nil)

// New connects to the endpoint, creates the bucket when it is missing and
// installs a lifecycle rule aborting multipart uploads left incomplete for
// a day (keeping any other rules). It fails when the server cannot be
// reached or the credentials are refused.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3: endpoint and bucket are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below the S3 minimum of %d bytes", cfg.PartSize, MinPartSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	transport, err := newTransport(cfg.UseTLS)
	if err != nil {
		return nil, fmt.Errorf("s3: transport for %s: %w", cfg.Endpoint, err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseTLS,
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", cfg.Endpoint, err)
	}
	s := &Store{
		client:  client,
		core:    minio.Core{Client: client},
		bucket:  cfg.Bucket,
		put:     PutOptions(cfg.PartSize, cfg.Concurrency),
		release: newPartRelease(),
	}
	if err := s.ensureBucket(ctx, cfg.Region); err != nil {
		return nil, err
	}
	s.AbortRule, err = s.ensureAbortRule(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// PutOptions are the upload options the Store uses; exported so a
// benchmark of raw minio-go uploads can use the very same settings.
// The payload is not SHA-256 signed (UNSIGNED-PAYLOAD): signing costs a
// full SHA-256 pass over every byte on the uploading core, while sealed
// blobs carry their own authentication (every segment is AEAD-sealed and
// checked on read) and TLS protects the transport in production.
func PutOptions(partSize uint64, concurrency uint) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType:           "application/octet-stream",
		PartSize:              partSize,
		NumThreads:            concurrency,
		ConcurrentStreamParts: concurrency > 1,
		DisableContentSha256:  true,
	}
}

// newTransport is the HTTP transport of the Store's client: minio-go's
// default (timeouts, TLS 1.2+, no transparent decompression) keeping up
// to MaxIdleConnsPerHost idle connections to the endpoint.
func newTransport(secure bool) (*http.Transport, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	tr.MaxIdleConns = max(tr.MaxIdleConns, MaxIdleConnsPerHost)
	return tr, nil
}

func (s *Store) ensureBucket(ctx context.Context, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return fmt.Errorf("s3: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// ensureAbortRule adds our rule to the bucket's lifecycle configuration
// unless it is there. A server that does not implement lifecycle rules is
// not an error: it reports false.
func (s *Store) ensureAbortRule(ctx context.Context) (bool, error) {
	cfg, err := s.client.GetBucketLifecycle(ctx, s.bucket)
	if err != nil {
		if !isCode(err, "NoSuchLifecycleConfiguration") {
			if isCode(err, "NotImplemented") {
				return false, nil
			}
			return false, fmt.Errorf("s3: lifecycle of %s: %w", s.bucket, err)
		}
		cfg = lifecycle.NewConfiguration()
	}
	for _, r := range cfg.Rules {
		if r.ID == lifecycleRuleID {
			return true, nil
		}
	}
	cfg.Rules = append(cfg.Rules, lifecycle.Rule{
		ID:                             lifecycleRuleID,
		Status:                         "Enabled",
		RuleFilter:                     lifecycle.Filter{Prefix: ""},
		AbortIncompleteMultipartUpload: lifecycle.AbortIncompleteMultipartUpload{DaysAfterInitiation: 1},
	})
	if err := s.client.SetBucketLifecycle(ctx, s.bucket, cfg); err != nil {
		// MinIO has no AbortIncompleteMultipartUpload action and answers
		// InvalidArgument ("XML ... not well-formed"); it expires stale uploads itself after
		// MINIO_API_STALE_UPLOADS_EXPIRY (24h by default). The bucket's
		// configuration stays as it was.
		if isCode(err, "NotImplemented") || isCode(err, "MalformedXML") || isCode(err, "InvalidArgument") {
			return false, nil
		}
		return false, fmt.Errorf("s3: set lifecycle of %s: %w", s.bucket, err)
	}
	return true, nil
}

// isCode reports whether err is an S3 error response with the code.
func isCode(err error, code string) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.Code == code
}

// mapErr wraps err for op on key, mapping S3 codes to storage sentinels
// and keeping a cancelled ctx visible to errors.Is.
func mapErr(ctx context.Context, op, key string, err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "NoSuchKey":
			return fmt.Errorf("s3: %s %s: %w", op, key, storage.ErrNotFound)
		case "InvalidRange":
			return fmt.Errorf("s3: %s %s: %w", op, key, storage.ErrInvalidRange)
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("s3: %s %s: %w (%w)", op, key, ctxErr, err)
	}
	return fmt.Errorf("s3: %s %s: %w", op, key, err)
}

// Bucket names the store's bucket.
func (s *Store) Bucket() string { return s.bucket }
