package s3_test

import (
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediarepo/mediarepo/internal/storage/s3"
)

func credentialsFor(cfg s3.Config) *credentials.Credentials {
	return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
}
