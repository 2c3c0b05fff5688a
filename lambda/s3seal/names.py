"""Names shared by the runtime, the CDK stack and the tests: service, metrics, dimensions, the
staging bucket's reserved prefix, the materials-description fields that name a root-key version."""

SERVICE = "s3seal"
METRICS_NAMESPACE = "s3seal"
METRIC_OBJECTS_STAGED = "ObjectsStaged"
METRIC_BYTES_STAGED = "BytesStaged"
METRIC_OBJECTS_FAILED = "ObjectsFailed"
METRIC_STAGE_DURATION = "StageDuration"
FAILURE_REASON_DIMENSION = "Reason"
SERVICE_DIMENSION = "service"
"""The dimension Powertools Metrics adds to every metric, valued with the service name."""
RESERVED_PREFIX = "_s3seal/"
"""Everything s3seal itself writes into the staging bucket (batch records, the loader lock,
manifests, transient load plaintext) lives here; the function never stages a key under it."""
# Materials-description entries that name the secret version that wrapped a data key, so a
# reader can fetch that exact version and a loader can group objects by key.
SECRET_ARN_FIELD = "s3seal:secret-arn"  # noqa: S105 (a field name, not a secret)
SECRET_VERSION_FIELD = "s3seal:secret-version"  # noqa: S105 (a field name)
