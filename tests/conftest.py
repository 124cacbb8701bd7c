import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_IMAGENET = REPO.parent / "shared" / "data" / "tiny-imagenet-10"


@pytest.fixture(scope="session")
def tiny_imagenet_root() -> Path:
    """The real-photograph dataset beside the repo; tests that need it skip cleanly when absent."""
    if not (TINY_IMAGENET / "train").is_dir():
        pytest.skip(f"tiny-imagenet-10 not found at {TINY_IMAGENET}")
    return TINY_IMAGENET
