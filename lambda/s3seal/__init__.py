"""s3seal: envelope-encrypt S3 objects in the Amazon S3 client-side-encryption format."""

__version__ = "0.1.0"
