"""Loaded at start-up by processes the acceptance tests start with this folder on PYTHONPATH: when
SYNTHFORGE_RECORDING_HUB names a folder, every HfApi of the process pushes to the recording Hub there
(tests/recording_hub.py) instead of the network."""

import os
import sys
from pathlib import Path

if os.environ.get("SYNTHFORGE_RECORDING_HUB"):
    sys.path.append(str(Path(__file__).resolve().parents[3]))  # the checkout, for tests.recording_hub
    from tests.recording_hub import install

    install(Path(os.environ["SYNTHFORGE_RECORDING_HUB"]))
