"""The cloud half of the nightly flow: Step Functions, the Lambda trigger, infrastructure, deploy."""
