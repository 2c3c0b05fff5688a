"""Interop tests: s3seal against the official AWS S3 encryption clients, on a local moto S3."""
