"""ML on data products: governed processing, training, registry, pipelines, lineage.

The pure logic lives here (splits, features, estimators, metrics, MLflow tracking, script
mode, pipeline definitions); the per-principal facade is :class:`meshlake.service.ml.MLAPI`
(``session.ml``). XGBoost, scikit-learn, MLflow and OpenLineage are imported inside the
functions that use them, never when meshlake is imported.
"""
