"""The AWS SageMaker deployment: one ComponentResource per concern, built in order by ModelDeployment
(deployment.py). `cloud.CLOUD` is what the core sees; this package's __init__ imports nothing, so the
registry can load the spec section without the provider SDKs."""
