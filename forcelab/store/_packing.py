"""How the session file stores its growing data compactly: chunking, tails and bridge counts.

Three rules keep a recorded file close to the size of its compressed data (docs/session-format.md,
"Storage"):

- **Write-once chunks.** In HDF5 SWMR mode the library never reuses file space, so a compressed
  chunk rewritten at every flush leaves its older copies behind as dead space. The writer
  therefore appends only complete chunks to a growing dataset; the rows after its last complete
  chunk go to an uncompressed *tail* of one chunk (``/tail/<path of the dataset>``), written in
  place. New rows are written behind the tail's committed rows; when complete chunks move into
  the dataset, a first commit counts them there and stops counting the tail, and only then is
  the tail written again from its start, so a crash in the middle of a flush never touches a
  row that a commit counts. ``committed_rows`` holds the committed rows of each tail too; readers
  append them to the dataset's committed rows. At a clean close every row moves into the
  dataset and the tail counts are 0, so a closed file holds everything in the datasets.
- **Column chunks.** Sample chunks hold one channel each (``(rows, 1)``): consecutive values of
  one channel are alike, which is what shuffle + gzip compress best.
- **Bridge counts.** A plate that streams raw 24-bit ADC counts turned into forces and moments
  through a 6×6 calibration matrix (``calibration`` with ``matrix``, ``gain``, ``v_ref``,
  ``v_exc`` and ``data_format = "raw"``) is stored as its integer counts (dataset ``counts``,
  int32, (N, 6)) plus the matrix that turns them back into the first six channels (attribute
  ``counts_to_units``, units per count). Those six columns of ``samples`` then hold what the
  counts do not explain: 0 wherever the value is exactly the counts times the matrix (always, for
  a plate sending raw counts), the value itself otherwise. Lossless either way.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from forcelab.store import _layout as L

#: Group that mirrors the growing datasets with their uncompressed tails.
TAIL_GROUP = "tail"
#: Compression of every growing dataset: standard gzip + shuffle, which every HDF5 build reads
#: (LZ4 / Blosc-Zstd from hdf5plugin were measured no smaller on sensor noise; see the docs).
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
#: Seconds of samples per chunk of a stream, and bounds in rows.
CHUNK_S = 1.0
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 256, 8192
#: ADC full scale of a 24-bit bridge converter (counts for +v_ref), docs/protocols.md FPB1.
ADC_FULL_SCALE = 2**23
#: Channels a bridge-count calibration produces (the first six of the stream).
N_BRIDGES = 6
COUNTS_TO_UNITS = "counts_to_units"


#: Rows per chunk of a tail (its space is taken as rows arrive, not all at once).
TAIL_CHUNK_ROWS = 256


def tail_path(path: str) -> str:
    """Path of the tail of growing dataset ``path`` (``/streams/a/samples`` ->
    ``/tail/streams/a/samples``)."""
    return f"/{TAIL_GROUP}/{path.lstrip('/')}"


def stream_chunk_rows(rate_hz: float) -> int:
    """Rows per chunk of a stream recorded at ``rate_hz`` (Hz): about ``CHUNK_S`` seconds."""
    return int(min(max(CHUNK_S * rate_hz, MIN_CHUNK_ROWS), MAX_CHUNK_ROWS))


def counts_matrix(calibration: Any, n_channels: int) -> np.ndarray | None:
    """Units per count (6×6) of a plate that streams raw bridge counts, or None.

    ``loads = counts @ matrix.T`` (N and N·m); the counts-to-mV/V factor per bridge is
    ``v_ref / 2^23 / gain / v_exc × 1000`` (docs/protocols.md, "Raw to physics").
    """
    if not isinstance(calibration, dict) or n_channels < N_BRIDGES:
        return None
    if calibration.get("data_format") != "raw":
        return None
    try:
        matrix = np.asarray(calibration["matrix"], dtype=np.float64)
        gain = np.asarray(calibration["gain"], dtype=np.float64)
        v_ref = float(calibration["v_ref"])
        v_exc = float(calibration["v_exc"])
    except (KeyError, TypeError, ValueError):
        return None
    if matrix.shape != (N_BRIDGES, N_BRIDGES) or gain.shape != (N_BRIDGES,):
        return None
    if not (np.all(np.isfinite(matrix)) and np.all(gain > 0) and v_ref > 0 and v_exc > 0):
        return None
    mvv_per_count = v_ref / ADC_FULL_SCALE / gain / v_exc * 1000.0
    k = matrix * mvv_per_count[None, :]
    if abs(np.linalg.det(k)) == 0.0:
        return None
    return k


def to_counts(samples: np.ndarray, k: np.ndarray, k_inv: np.ndarray,
              dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Split samples (n, C) into bridge counts (n, 6) int32 and the stored samples (n, C).

    A row whose first six values are exactly (in the storage type ``dtype``) its rounded counts
    times ``k`` keeps 0 in those columns; any other row keeps its values and counts 0.
    """
    loads = np.asarray(samples[:, :N_BRIDGES], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        c = np.rint(loads @ k_inv.T)
        ok = np.all(np.isfinite(c) & (np.abs(c) < 2**31 - 1), axis=1)
        c[~ok] = 0.0
        back = (c @ k.T).astype(dtype)
    stored = np.array(samples, dtype=dtype, copy=True)
    ok &= np.all(back == stored[:, :N_BRIDGES], axis=1)
    counts = np.where(ok[:, None], c, 0.0).astype(np.int32)
    stored[ok, :N_BRIDGES] = 0.0
    return counts, stored


def from_counts(counts: np.ndarray, stored: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_counts`: the samples as they were given (in the stored type)."""
    out = np.array(stored, copy=True)
    loads = (np.asarray(counts, dtype=np.float64) @ k.T).astype(out.dtype)
    out[:, :N_BRIDGES] += loads
    return out


def create_growing(group: h5py.Group, name: str, shape_rest: tuple, dtype: Any,
                   chunk_rows: int, columns: bool = False, tails: bool = True) -> h5py.Dataset:
    """Create a growing (resizable, compressed) dataset and, with ``tails``, its tail.

    ``columns=True`` chunks a 2-D dataset one column per chunk.
    """
    chunks = (chunk_rows, *((1,) * len(shape_rest) if columns else shape_rest))
    ds = group.create_dataset(
        name, shape=(0, *shape_rest), maxshape=(None, *shape_rest), dtype=dtype,
        chunks=chunks, **COMPRESSION,
    )
    if tails:
        tail = group.file.require_group(tail_path(group.name).rstrip("/"))
        tail.create_dataset(name, shape=(chunk_rows, *shape_rest), dtype=dtype,
                            chunks=(min(chunk_rows, TAIL_CHUNK_ROWS), *shape_rest))
    return ds


def parts(h5: h5py.File, path: str, committed: dict[str, int]) -> list[tuple[h5py.Dataset, int]]:
    """The dataset ``path`` and its tail (when it has committed rows), each with its committed
    rows."""
    ds = h5[path]
    out = [(ds, min(int(ds.shape[0]), committed.get(path, int(ds.shape[0]))))]
    tp = tail_path(path)
    n = committed.get(tp, 0)
    if n and tp in h5:
        out.append((h5[tp], min(n, int(h5[tp].shape[0]))))
    return out


def read_rows(h5: h5py.File, path: str, committed: dict[str, int],
              start: int = 0, stop: int | None = None) -> np.ndarray:
    """Committed rows ``[start, stop)`` of growing dataset ``path`` followed by its tail."""
    pieces = []
    offset = 0
    pieces_of = parts(h5, path, committed)
    total = sum(n for _, n in pieces_of)
    stop = total if stop is None else min(stop, total)
    for ds, n in pieces_of:
        a, b = max(start - offset, 0), min(stop - offset, n)
        if b > a or not pieces:
            pieces.append(ds[a:max(a, b)])
        offset += n
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def n_rows(h5: h5py.File, path: str, committed: dict[str, int]) -> int:
    """Committed rows of growing dataset ``path`` including its tail."""
    return sum(n for _, n in parts(h5, path, committed))


#: Flush modes: complete chunks and the tails (timed flushes), complete chunks only (a burst of
#: appends), everything into the datasets (close).
TAIL, CHUNKS, FINAL = "tail", "chunks", "final"


class Growing:
    """Write-once appends to one growing dataset: complete chunks go into the dataset, the rows
    after its last complete chunk into its tail."""

    def __init__(self, path: str, chunk_rows: int) -> None:
        self.path = path
        self.tail = tail_path(path)
        self.chunk_rows = chunk_rows
        self.rest: np.ndarray | None = None  # rows after the dataset's last complete chunk
        self.on_disk = 0  # rows of ``rest`` written into the tail

    def add(self, rows: np.ndarray) -> None:
        self.rest = rows if self.rest is None or not len(self.rest) else np.concatenate(
            [self.rest, rows])

    def move_chunks(self, ds_of: Any, final: bool) -> bool:
        """Append the complete chunks (``final``: every row) to the dataset; True if any."""
        if self.rest is None:
            return False
        k = len(self.rest) if final else len(self.rest) // self.chunk_rows * self.chunk_rows
        if not k:
            return False
        ds = ds_of(self.path)
        n0 = ds.shape[0]
        ds.resize((n0 + k, *ds.shape[1:]))
        ds[n0:] = self.rest[:k]
        self.rest = self.rest[k:]
        self.on_disk = 0  # the tail starts over once a commit stops counting its rows
        return True

    def write_tail(self, ds_of: Any) -> None:
        """Write the rows not yet in the tail behind its committed rows."""
        if self.rest is not None and len(self.rest) > self.on_disk:
            ds_of(self.tail)[self.on_disk : len(self.rest)] = self.rest[self.on_disk :]
            self.on_disk = len(self.rest)


def create_stream_datasets(g: h5py.Group, n_channels: int, rate_hz: float, dtype: np.dtype,
                           counts_to_units: np.ndarray | None, tails: bool = True) -> None:
    """Create the growing datasets of one stream (and, with ``tails``, their tails) in ``g``."""
    rows = stream_chunk_rows(rate_hz)
    create_growing(g, "samples", (n_channels,), dtype, rows, columns=True, tails=tails)
    create_growing(g, "seq", (), "i8", rows, tails=tails)
    if counts_to_units is not None:
        create_growing(g, "counts", (N_BRIDGES,), "i4", rows, columns=True, tails=tails)
        g.attrs[COUNTS_TO_UNITS] = counts_to_units
    for table, (tdtype, chunk) in L.STREAM_TABLES.items():
        create_growing(g, table, (), tdtype, chunk, tails=tails)
