"""The serving image: the runtime that speaks SageMaker's, Vertex AI's and Azure ML's contracts,
the image build step, and running the image locally as each cloud would. Depends on `model` only."""
