#!/usr/bin/env python3
"""The CDK app. This is the only place that reads CDK context (cdk.json)."""

from __future__ import annotations

import aws_cdk as cdk

from infra.nag import add_checks
from infra.settings import StackSettings
from infra.stack import S3SealStack

app = cdk.App()
settings = StackSettings.from_context(app.node.try_get_context)
S3SealStack(app, settings.stack_name, settings=settings)
add_checks(app)
app.synth()
