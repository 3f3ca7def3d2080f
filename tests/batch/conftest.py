"""Batch tests reuse the synthetic session builder of the export tests and the bench's dask
cluster (bench/dask_cluster.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
