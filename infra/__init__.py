"""CDK constructs and the s3seal stack."""
