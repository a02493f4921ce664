"""The cloud half of the nightly flow: Step Functions, Lambda trigger, infrastructure, deploy."""
