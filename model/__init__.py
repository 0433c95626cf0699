"""The model bundle: training the example, packaging, loading, verifying and scoring.

Nothing here knows about containers or clouds. Importing this package (and the scoring path)
needs only numpy and onnxruntime; scikit-learn is imported lazily by training and packaging.
"""
