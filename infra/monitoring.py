"""Alarms to an SNS topic, and a dashboard of what the pipeline does."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from s3seal import names

from .access import source_account

FIVE_MINUTES = cdk.Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        queue: sqs.Queue,
        dead_letter_queue: sqs.Queue,
        oldest_message_alarm_seconds: int,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "TopicKey",
            description="s3seal: encrypts the alarm topic",
            enable_key_rotation=True,
        )
        # CloudWatch publishes this account's alarms to the encrypted topic.
        key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com", conditions=source_account()),
            "kms:Decrypt",
            "kms:GenerateDataKey*",
        )
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        def metric(name: str, statistic: str = "Sum", **dimensions: str) -> cw.Metric:
            return cw.Metric(
                namespace=names.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={names.SERVICE_DIMENSION: names.SERVICE, **dimensions},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        alarms = {
            "DeadLetterQueueNotEmpty": (
                dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES
                ),
                0,
                "Messages reached the DLQ: their objects are still in landing, not staged.",
            ),
            "FunctionErrors": (
                function.metric_errors(period=FIVE_MINUTES),
                0,
                "The encrypting function failed invocations.",
            ),
            "FunctionThrottles": (
                function.metric_throttles(period=FIVE_MINUTES),
                0,
                "The encrypting function was throttled.",
            ),
            "OldestMessageAge": (
                queue.metric_approximate_age_of_oldest_message(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                oldest_message_alarm_seconds,
                "Landed objects are waiting too long to be staged.",
            ),
            "ObjectsFailed": (
                metric(names.METRIC_OBJECTS_FAILED),
                0,
                "Objects were not staged (see the Reason dimension and the function's logs).",
            ),
        }
        action = cw_actions.SnsAction(self.topic)
        for name, (watched, threshold, description) in alarms.items():
            alarm = watched.create_alarm(
                self,
                name,
                alarm_description=f"s3seal: {description}",
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)

        self.dashboard = cw.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Objects staged", left=[metric(names.METRIC_OBJECTS_STAGED)]),
            cw.GraphWidget(title="Bytes staged", left=[metric(names.METRIC_BYTES_STAGED)]),
            cw.GraphWidget(
                title="Errors",
                left=[
                    metric(names.METRIC_OBJECTS_FAILED),
                    function.metric_errors(period=FIVE_MINUTES),
                ],
            ),
            cw.GraphWidget(
                title="Queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES
                    ),
                ],
            ),
        )
