"""Names shared by the runtime, the CDK stack and the tests: service, metrics, dimensions, the
staging bucket's reserved prefix."""

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
STACK_NAME = "S3Seal"
"""The stack's default name (context ``stack_name``); ``s3seal status`` looks it up."""
# The stack's output keys: the operator commands find the resources through them.
OUTPUT_LANDING_BUCKET = "LandingBucketName"
OUTPUT_STAGING_BUCKET = "StagingBucketName"
OUTPUT_QUEUE_URL = "QueueUrl"
OUTPUT_DLQ_URL = "DeadLetterQueueUrl"
OUTPUT_SECRET_ARN = "RootKeySecretArn"  # noqa: S105 (an output name)
OUTPUT_REDSHIFT_ROLE_ARN = "RedshiftCopyRoleArn"
OUTPUT_LOADER_MODE = "LoaderMode"
OUTPUT_LOADER_FUNCTION = "LoaderFunctionName"
OUTPUT_LOAD_COMMAND = "LoadCommand"
