"""Export classifiers with saliency heads as SavedModels for TF Serving, and talk to the server.

    >>> from hrcam.export import export_saved_model
    >>> result = export_saved_model(model, "serving", "hrcam", heads="cam,high_res_cam,gradcam")
    >>> result.path                                            # serving/hrcam/1
    >>> from hrcam.export.client import predict
    >>> out = predict("http://localhost:8501", images, model_name="hrcam")   # out["cam"]: (B, H, W)

See the "Serving" section of README.md for running TF Serving against the export.
"""

from hrcam.export.client import ServingError, explain_from_server, predict, predict_grpc
from hrcam.export.devserver import DevServer
from hrcam.export.heads import HEADS, SIGNATURES, ServingHeads, load_classifier
from hrcam.export.saved_model import (
    METADATA_FILE,
    MODEL_CONFIG_FILE,
    README_FILE,
    ExportResult,
    export_saved_model,
    list_versions,
    next_version,
    remove_stale_temporaries,
    write_model_config,
)
from hrcam.export.warmup import WARMUP_FILE, read_warmup_requests, write_warmup_requests

__all__ = [
    "ExportResult",
    "export_saved_model",
    "list_versions",
    "next_version",
    "remove_stale_temporaries",
    "write_model_config",
    "ServingHeads",
    "load_classifier",
    "HEADS",
    "SIGNATURES",
    "WARMUP_FILE",
    "MODEL_CONFIG_FILE",
    "README_FILE",
    "METADATA_FILE",
    "read_warmup_requests",
    "write_warmup_requests",
    "predict",
    "predict_grpc",
    "explain_from_server",
    "ServingError",
    "DevServer",
]
