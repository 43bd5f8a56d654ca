"""Where the Python tests find their inputs: the shared reference folder (TINYLLM_SHARED_DIR)
and the generate program (TINYLLM_GENERATE). Tests that need a missing one are skipped."""
import os

import pytest


def _shared():
    return os.environ.get("TINYLLM_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))


@pytest.fixture(scope="session")
def models():
    folder = os.path.join(_shared(), "models")
    if not os.path.exists(os.path.join(folder, "shakespeare5m-q8_0.gguf")):
        pytest.skip(f"the shared models are not in {folder} (set TINYLLM_SHARED_DIR)")
    return folder


@pytest.fixture(scope="session")
def generate_program():
    path = os.environ.get("TINYLLM_GENERATE")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("TINYLLM_GENERATE does not name the generate program")
    return path
