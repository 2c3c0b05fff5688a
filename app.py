#!/usr/bin/env python3
"""The CDK app. This is the only place that reads CDK context (cdk.json)."""

from __future__ import annotations

import aws_cdk as cdk

from infra.stack import S3SealStack

app = cdk.App()
S3SealStack(app, str(app.node.try_get_context("stack_name") or "S3Seal"))
app.synth()
