# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled frame scanners of the FPB1 and INS1 wire protocols (private; compiled into
``forcelab.drivers._frames``; use :class:`forcelab.drivers.protocols.fpb1.FPB1Codec` and
:class:`forcelab.drivers.protocols.ins1.Ins1Codec`).

The per-read kernels keep the GIL: they take microseconds, and releasing it around them would
hand it to another of the recorder's threads and wait to get it back (two thread switches per
kernel on a busy host).

One call takes the bytes a codec holds (many frames) and does, in C, what the codecs did frame
by frame in Python: hunt for the sync/magic, check the length, wait for incomplete frames, check
the CRC (on a bad one advance ONE byte and hunt again), count what was thrown away. The streamed
frames (FPB1 DATA, INS1 SAMPLE) come out decoded as runs -- arrays, not one Python object per
frame; every other frame (replies, events, logs, boot banners) as a ``Frame`` for Python, in
arrival order between the runs. With ``data_type = -1`` every frame comes out as a ``Frame``
(the codecs' ``feed``). See docs/protocols.md.
"""

import numpy as np

cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy
from libc.errno cimport EAGAIN, EINTR, errno
from libc.math cimport fabs
from cpython.exc cimport PyErr_SetFromErrno

cdef extern from *:
    """
    #ifdef _WIN32
    #include <io.h>
    #define forcelab_read(fd, buf, n) _read((fd), (buf), (unsigned int)(n))
    #else
    #include <unistd.h>
    #define forcelab_read(fd, buf, n) read((fd), (buf), (size_t)(n))
    #endif
    """
    Py_ssize_t posix_read "forcelab_read" (int fd, void* buf, Py_ssize_t n)

cnp.import_array()

cdef uint16_t CCITT_TABLE[256]
cdef uint16_t MODBUS_TABLE[256]


cdef void _make_tables() noexcept:
    cdef int i, k
    cdef uint16_t c
    for i in range(256):
        c = <uint16_t>(i << 8)
        for k in range(8):
            c = <uint16_t>((c << 1) ^ 0x1021) if c & 0x8000 else <uint16_t>(c << 1)
        CCITT_TABLE[i] = c
        c = <uint16_t>i
        for k in range(8):
            c = <uint16_t>((c >> 1) ^ 0xA001) if c & 1 else <uint16_t>(c >> 1)
        MODBUS_TABLE[i] = c


_make_tables()


cdef inline uint16_t _crc_ccitt(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as binascii.crc_hqx(data, 0xFFFF)."""
    cdef uint16_t crc = 0xFFFF
    cdef Py_ssize_t i
    for i in range(n):
        crc = <uint16_t>((crc << 8) ^ CCITT_TABLE[((crc >> 8) ^ p[i]) & 0xFF])
    return crc


cdef inline uint16_t _crc_modbus(const uint8_t* p, Py_ssize_t n,
                                 uint16_t crc=0xFFFF) noexcept nogil:
    """CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF)."""
    cdef Py_ssize_t i
    for i in range(n):
        crc = <uint16_t>((crc >> 8) ^ MODBUS_TABLE[(crc ^ p[i]) & 0xFF])
    return crc


def crc16_modbus(const uint8_t[::1] data not None, uint16_t crc=0xFFFF):
    """CRC-16/MODBUS of ``data`` from ``crc`` (``crc16_modbus(b"123456789") == 0x4B37``)."""
    return _crc_modbus(&data[0] if data.shape[0] else NULL, data.shape[0], crc)


cdef struct Found:
    Py_ssize_t start     # offset of the payload in the buffer
    Py_ssize_t length    # payload length
    int type
    int token


cdef inline uint32_t _u32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t _u64(const uint8_t* p) noexcept nogil:
    return _u32(p) | (<uint64_t>_u32(p + 4) << 32)


# ---------------------------------------------------------------------------------------------
# FPB1
# ---------------------------------------------------------------------------------------------
cdef enum:
    FPB1_MAX_LEN = 1024
    FPB1_DATA_HEADER = 16


cdef struct Hunt:
    bint in_sync  # the last bytes taken were a good frame
    long long resyncs  # times sync was lost
    long long discarded  # bytes that belong to no good frame


cdef inline void _lose_sync(Hunt* h, Py_ssize_t n_bytes) noexcept nogil:
    """``n_bytes`` belong to no good frame: discard them (and count a lost sync once)."""
    if h.in_sync:
        h.resyncs += 1
        h.in_sync = False
    h.discarded += n_bytes


def scan_fpb1(bytearray buf not None, bint in_sync, bint expire, int data_type,
              frame_cls, run_cls):
    """Scan the FPB1 bytes held in ``buf`` (SYNC A5 5A, TYPE, TOKEN, LEN u16 <= 1024, PAYLOAD,
    CRC-16/CCITT-FALSE over TYPE..PAYLOAD).

    Parameters
    ----------
    buf : bytearray
        The codec's buffer (not modified: the caller deletes the bytes consumed).
    in_sync : bool
        False while the codec is hunting after lost bytes (the next loss is no new resync).
    expire : bool
        The line went quiet: an incomplete frame (or a lone 0xA5) waiting at the head will never
        complete; give it up one byte at a time and go on with what follows.
    data_type : int
        Frame type decoded into runs (DATA), or -1: every frame as a ``frame_cls``.
    frame_cls, run_cls : callable
        ``frame_cls(type, token, payload)``; ``run_cls(seq, t_us, status, fmt, n, values)`` with
        int64 arrays of one entry per frame and values (frames, n, 6) ``<i4`` or ``<f4``.

    Returns
    -------
    tuple
        ``(consumed, in_sync, items, frames, crc_errors, bad_lengths, resyncs,
        bytes_discarded, malformed)``: bytes to delete from the head of ``buf``; the items in
        arrival order (runs of DATA frames of one shape, split by any other frame, and the other
        frames); the counter increments; DATA frames whose payload length disagrees with their
        header (dropped, they do not split a run).
    """
    cdef Py_ssize_t n = len(buf)
    cdef const uint8_t* b = <const uint8_t*>(<char*>buf) if n else NULL
    cdef Py_ssize_t pos = 0, i, end, length, keep, skipped
    cdef const uint8_t* hit
    cdef long long crc_errors = 0, bad_lengths = 0
    cdef Hunt h
    h.in_sync = in_sync
    h.resyncs = 0
    h.discarded = 0
    cdef Py_ssize_t n_found = 0, cap = n // 8 + 1
    cdef Found* found = <Found*>PyMem_Malloc(cap * sizeof(Found))
    if found == NULL:
        raise MemoryError()
    try:
        if expire and n > 0:
            # the head is the start of a frame that will never complete: give up one byte
            _lose_sync(&h, 1)
            pos = 1
        while True:
            hit = NULL
            i = pos
            while i + 1 < n:
                hit = <const uint8_t*>memchr(b + i, 0xA5, n - 1 - i)
                if hit == NULL:
                    break
                i = hit - b
                if b[i + 1] == 0x5A:
                    break
                hit = NULL
                i += 1
            if hit == NULL:
                keep = 1 if n > pos and b[n - 1] == 0xA5 else 0
                skipped = n - pos - keep
                if skipped > 0:
                    _lose_sync(&h, skipped)
                pos = n - keep
                if expire and pos < n:
                    _lose_sync(&h, 1)
                    pos += 1
                    continue
                break
            if i > pos:
                _lose_sync(&h, i - pos)
                pos = i
            if n - i < 6:
                if expire:
                    _lose_sync(&h, 1)
                    pos = i + 1
                    continue
                break
            length = b[i + 4] | (b[i + 5] << 8)
            if length > FPB1_MAX_LEN:
                bad_lengths += 1
                _lose_sync(&h, 1)
                pos = i + 1
                continue
            end = i + 6 + length
            if n < end + 2:
                if expire:
                    _lose_sync(&h, 1)
                    pos = i + 1
                    continue
                break
            if _crc_ccitt(b + i + 2, 4 + length) != (b[end] | (b[end + 1] << 8)):
                crc_errors += 1
                _lose_sync(&h, 1)
                pos = i + 1
                continue
            found[n_found].start = i + 6
            found[n_found].length = length
            found[n_found].type = b[i + 2]
            found[n_found].token = b[i + 3]
            n_found += 1
            h.in_sync = True
            pos = end + 2
        items, malformed = _fpb1_items(b, found, n_found, data_type, frame_cls, run_cls)
    finally:
        PyMem_Free(found)
    return (pos, h.in_sync, items, n_found, crc_errors, bad_lengths, h.resyncs, h.discarded,
            malformed)


cdef inline bint _fpb1_data_ok(const uint8_t* b, Found* f) noexcept nogil:
    cdef int k, fmt
    if f.length < FPB1_DATA_HEADER:
        return False
    k = b[f.start + 12]
    fmt = b[f.start + 13]
    return (fmt == 0 or fmt == 1) and k >= 1 and f.length == FPB1_DATA_HEADER + 24 * k


cdef tuple _fpb1_items(const uint8_t* b, Found* found, Py_ssize_t n_found, int data_type,
                       frame_cls, run_cls):
    cdef Py_ssize_t j, k = 0, n_samples = 0, r0, s0
    cdef long long malformed = 0
    cdef Found* f
    cdef const uint8_t* p
    cdef cnp.ndarray seq_a = None, t_a = None, st_a = None, raw_a = None
    cdef int64_t* seq = NULL
    cdef int64_t* t_us = NULL
    cdef int64_t* status = NULL
    cdef uint8_t* raw = NULL
    cdef Py_ssize_t d = 0, s = 0          # data frames and samples decoded so far
    cdef Py_ssize_t run_d = -1, run_s = 0  # where the open run starts (-1: none open)
    cdef int run_n = 0, run_fmt = 0, nk, fmt
    items = []
    # sizes first: one allocation per array
    for j in range(n_found):
        f = &found[j]
        if f.type == data_type and _fpb1_data_ok(b, f):
            k += 1
            n_samples += b[f.start + 12]
    if k:
        seq_a = np.empty(k, dtype=np.int64)
        t_a = np.empty(k, dtype=np.int64)
        st_a = np.empty(k, dtype=np.int64)
        raw_a = np.empty(n_samples * 24, dtype=np.uint8)
        seq = <int64_t*>cnp.PyArray_DATA(seq_a)
        t_us = <int64_t*>cnp.PyArray_DATA(t_a)
        status = <int64_t*>cnp.PyArray_DATA(st_a)
        raw = <uint8_t*>cnp.PyArray_DATA(raw_a)
    for j in range(n_found):
        f = &found[j]
        p = b + f.start
        if f.type == data_type:
            if not _fpb1_data_ok(b, f):
                malformed += 1
                continue
            nk = p[12]
            fmt = p[13]
            if run_d >= 0 and (nk != run_n or fmt != run_fmt):
                items.append(_fpb1_run(seq_a, t_a, st_a, raw_a, run_d, d, run_s, s, run_n,
                                       run_fmt, k, run_cls))
                run_d = -1
            if run_d < 0:
                run_d, run_s, run_n, run_fmt = d, s, nk, fmt
            seq[d] = _u32(p)
            t_us[d] = <int64_t>_u64(p + 4)
            status[d] = p[14] | (p[15] << 8)
            memcpy(raw + 24 * s, p + FPB1_DATA_HEADER, 24 * nk)
            d += 1
            s += nk
            continue
        if run_d >= 0:
            items.append(_fpb1_run(seq_a, t_a, st_a, raw_a, run_d, d, run_s, s, run_n, run_fmt,
                                   k, run_cls))
            run_d = -1
        items.append(frame_cls(f.type, f.token,
                               PyBytes_FromStringAndSize(<const char*>p, f.length)))
    if run_d >= 0:
        items.append(_fpb1_run(seq_a, t_a, st_a, raw_a, run_d, d, run_s, s, run_n, run_fmt, k,
                               run_cls))
    return items, malformed


cdef object _fpb1_run(cnp.ndarray seq_a, cnp.ndarray t_a, cnp.ndarray st_a, cnp.ndarray raw_a,
                      Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t s0, Py_ssize_t s1, int nk,
                      int fmt, Py_ssize_t k, run_cls):
    raw = raw_a if s0 == 0 and 24 * s1 == raw_a.shape[0] else raw_a[24 * s0:24 * s1]
    values = raw.view("<i4" if fmt == 0 else "<f4").reshape(d1 - d0, nk, 6)
    if d0 == 0 and d1 == k:
        return run_cls(seq_a, t_a, st_a, fmt, nk, values)
    return run_cls(seq_a[d0:d1], t_a[d0:d1], st_a[d0:d1], fmt, nk, values)


# ---------------------------------------------------------------------------------------------
# INS1
# ---------------------------------------------------------------------------------------------
cdef enum:
    INS1_HEADER = 8
    INS1_OVERHEAD = 10
    INS1_MAX_PAYLOAD = 512


cdef inline Py_ssize_t _find_magic(const uint8_t* b, Py_ssize_t pos, Py_ssize_t n) noexcept nogil:
    """Offset of the next b"INS1" at or after ``pos``, or -1."""
    cdef const uint8_t* hit
    cdef Py_ssize_t i = pos
    while i + 4 <= n:
        hit = <const uint8_t*>memchr(b + i, 0x49, n - 3 - i)  # 'I'
        if hit == NULL:
            return -1
        i = hit - b
        if b[i + 1] == 0x4E and b[i + 2] == 0x53 and b[i + 3] == 0x31:  # 'NS1'
            return i
        i += 1
    return -1


def scan_ins1(bytearray buf not None, bint lost, int sample_type, Py_ssize_t sample_size,
              frame_cls, run_cls):
    """Scan the INS1 bytes held in ``buf`` (MAGIC 'INS1', VER 1, TYPE, LEN u16 <= 512, PAYLOAD,
    CRC-16/MODBUS over MAGIC..PAYLOAD).

    Parameters
    ----------
    buf : bytearray
        The codec's buffer (not modified: the caller deletes the bytes consumed).
    lost : bool
        Bytes were discarded since the last good frame (the next good frame is a resync).
    sample_type, sample_size : int
        Frames of this type and payload size come out as runs (SAMPLE, 59 bytes); -1: every
        frame as a ``frame_cls``.
    frame_cls, run_cls : callable
        ``frame_cls(type, payload)``; ``run_cls(records, count)`` with ``count`` payloads back
        to back in the bytes ``records``.

    Returns
    -------
    tuple
        ``(consumed, lost, items, frames, crc_errors, resyncs, bytes_discarded,
        bytes_examined)``: bytes to delete from the head of ``buf``; items in arrival order;
        the counter increments (``bytes_examined``: bytes scanned for the magic plus bytes run
        through the CRC).
    """
    cdef Py_ssize_t n = len(buf)
    cdef const uint8_t* b = <const uint8_t*>(<char*>buf) if n else NULL
    cdef Py_ssize_t pos = 0, prev_end = 0, j, ln, stop_at
    cdef long long crc_errors = 0, resyncs = 0, discarded = 0, examined = 0
    cdef Py_ssize_t n_found = 0, cap = n // INS1_OVERHEAD + 1
    cdef Found* found = <Found*>PyMem_Malloc(cap * sizeof(Found))
    if found == NULL:
        raise MemoryError()
    try:
        while True:
            j = _find_magic(b, pos, n)
            if j < 0:
                examined += n - pos
                stop_at = max(pos, n - 3)
                break
            examined += j + 4 - pos
            if n - j < INS1_HEADER:
                stop_at = j
                break
            ln = b[j + 6] | (b[j + 7] << 8)
            if b[j + 4] != 1 or ln > INS1_MAX_PAYLOAD:
                pos = j + 1
                continue
            if n - j < INS1_OVERHEAD + ln:
                stop_at = j
                break
            examined += INS1_OVERHEAD + ln
            if _crc_modbus(b + j, INS1_HEADER + ln) != (b[j + 8 + ln] | (b[j + 9 + ln] << 8)):
                crc_errors += 1
                if j + 1 - prev_end > 0:
                    discarded += j + 1 - prev_end
                    lost = True
                prev_end = pos = j + 1
                continue
            if j - prev_end > 0:
                discarded += j - prev_end
                lost = True
            if lost:
                resyncs += 1
                lost = False
            found[n_found].start = j + INS1_HEADER
            found[n_found].length = ln
            found[n_found].type = b[j + 5]
            found[n_found].token = 0
            n_found += 1
            prev_end = pos = j + INS1_OVERHEAD + ln
        if stop_at - prev_end > 0:
            discarded += stop_at - prev_end
            lost = True
        items = _ins1_items(b, found, n_found, sample_type, sample_size, frame_cls, run_cls)
    finally:
        PyMem_Free(found)
    return stop_at, lost, items, n_found, crc_errors, resyncs, discarded, examined


cdef list _ins1_items(const uint8_t* b, Found* found, Py_ssize_t n_found, int sample_type,
                      Py_ssize_t sample_size, frame_cls, run_cls):
    cdef Py_ssize_t j, a, c, count
    cdef Found* f
    cdef char* out
    items = []
    j = 0
    while j < n_found:
        f = &found[j]
        if f.type == sample_type and f.length == sample_size:
            a = j
            while j < n_found and found[j].type == sample_type and \
                    found[j].length == sample_size:
                j += 1
            count = j - a
            records = PyBytes_FromStringAndSize(NULL, count * sample_size)
            out = PyBytes_AS_STRING(records)
            for c in range(count):
                memcpy(out + c * sample_size, b + found[a + c].start, sample_size)
            items.append(run_cls(records, count))
            continue
        items.append(frame_cls(f.type, PyBytes_FromStringAndSize(<const char*>(b + f.start),
                                                                  f.length)))
        j += 1
    return items


# ---------------------------------------------------------------------------------------------
# FPB1 blocks: the usual run of DATA frames, and loads -> samples
# ---------------------------------------------------------------------------------------------
def fpb1_run_continues(const int64_t[::1] seq not None, const int64_t[::1] t_us not None,
                       const int64_t[::1] status not None, int64_t n, int64_t ref_seq,
                       int64_t last_wire_for_t, int64_t last_t_us, int64_t next_wire_seq,
                       int64_t step_us, double tol_us):
    """True when a run of DATA frames is the usual case every check of the FPB1 timeline lets
    through at once: each frame's counter continues the one before it by ``n`` (from the last
    good frame ``ref_seq``, the last time-stamped frame ``last_wire_for_t`` and the expected
    ``next_wire_seq``), each clock step is ``step_us`` within ``tol_us`` (from ``last_t_us``),
    and all frames carry one status. Plain int64 differences, as the NumPy checks take them."""
    cdef Py_ssize_t k = seq.shape[0], i
    if k == 0 or t_us.shape[0] != k or status.shape[0] != k:
        return False
    if seq[0] - ref_seq != n or seq[0] - last_wire_for_t != n or seq[0] != next_wire_seq:
        return False
    if not abs(<double>(t_us[0] - last_t_us - step_us)) <= tol_us:
        return False
    for i in range(1, k):
        if seq[i] - seq[i - 1] != n or status[i] != status[0]:
            return False
        if not abs(<double>(t_us[i] - t_us[i - 1] - step_us)) <= tol_us:
            return False
    return True


def fpb1_loads_to_samples(const double[:, ::1] loads not None, double a, double b, double c,
                          double threshold_n):
    """Loads (n, 6) -> samples (n, 9): the loads, then COP x, y and the free moment Tz, NaN
    where Fz < ``threshold_n`` (see :func:`forcelab.drivers.protocols.fpb1.loads_to_samples`;
    the same operations in the same order as its NumPy form)."""
    cdef Py_ssize_t n = loads.shape[0], i, j
    if loads.shape[1] != 6:
        raise ValueError(f"loads must have 6 columns, not {loads.shape[1]}")
    out_a = np.empty((n, 9), dtype=np.float64)
    cdef double[:, ::1] out = out_a
    cdef double fx, fy, fz, mx, my, mz, inv_fz, x, y
    cdef double nan = float("nan")
    for i in range(n):
        for j in range(6):
            out[i, j] = loads[i, j]
        fx = loads[i, 0]
        fy = loads[i, 1]
        fz = loads[i, 2]
        mx = loads[i, 3]
        my = loads[i, 4]
        mz = loads[i, 5]
        inv_fz = 1.0 / fz if fz >= threshold_n else nan
        x = (my + c * fx) * inv_fz
        y = (mx - c * fy) * inv_fz
        out[i, 8] = mz - x * fy + y * fx
        out[i, 6] = x + a
        out[i, 7] = y + b
    return out_a


def fpb1_counts_as_float(const int32_t[:, :, ::1] values not None):
    """Raw counts of a DATA run, shape (frames, n, 6) int32 -> (frames * n, 6) float64, the
    exact conversion NumPy makes before ``counts @ matrix`` (every int32 is a double), without
    NumPy's casting machinery."""
    cdef Py_ssize_t k = values.shape[0], n = values.shape[1], i, j, c
    if values.shape[2] != 6:
        raise ValueError(f"FPB1 counts must have 6 columns, not {values.shape[2]}")
    out_a = np.empty((k * n, 6), dtype=np.float64)
    cdef double[:, ::1] out = out_a
    for i in range(k):
        for j in range(n):
            for c in range(6):
                out[i * n + j, c] = <double>values[i, j, c]
    return out_a


# ---------------------------------------------------------------------------------------------
# INS1 samples: the usual block, and counts -> physical units
# ---------------------------------------------------------------------------------------------
cdef enum:
    INS1_SAMPLE_SIZE = 59


cdef inline uint16_t _u16(const uint8_t* p) noexcept nogil:
    return p[0] | (p[1] << 8)


cdef inline int16_t _i16(const uint8_t* p) noexcept nogil:
    return <int16_t>(p[0] | (p[1] << 8))


def ins1_samples_continue(const uint8_t[::1] records not None, int64_t ref_seq,
                          int64_t seq_last16, int64_t t_last_raw, double period_us,
                          double tol_us):
    """The usual block of INS1 SAMPLE records (59 bytes each, :data:`SAMPLE_DTYPE`): every
    sequence number is the one before it + 1 (from ``ref_seq``, the last good sample, as plain
    differences; and from ``seq_last16`` modulo 2^16) and every device-clock step (modulo 2^32,
    from ``t_last_raw``) is one ``period_us`` within ``tol_us``.

    Returns
    -------
    tuple or None
        ``(last seq, last raw time, µs from t_last_raw to the first sample, ... to the last)``,
        or None when the block is not the usual case.
    """
    cdef Py_ssize_t k = records.shape[0] // INS1_SAMPLE_SIZE, i
    if k == 0 or records.shape[0] != k * INS1_SAMPLE_SIZE:
        return None
    cdef const uint8_t* r = &records[0]
    cdef int64_t seq, prev_seq = ref_seq, since, prev_since = 0, first_since = 0
    if ((<int64_t>_u16(r + 1) - seq_last16) & 0xFFFF) != 1:
        return None
    for i in range(k):
        seq = _u16(r + i * INS1_SAMPLE_SIZE + 1)
        if seq - prev_seq != 1:
            return None
        prev_seq = seq
        since = (<int64_t>_u32(r + i * INS1_SAMPLE_SIZE + 3) - t_last_raw) & 0xFFFFFFFF
        if i == 0:
            if abs(<double>since - period_us) > tol_us:
                return None
        elif abs(<double>(since - prev_since) - period_us) > tol_us:
            return None
        prev_since = since
        if i == 0:
            first_since = since
    return (prev_seq, <int64_t>_u32(r + (k - 1) * INS1_SAMPLE_SIZE + 3), first_since,
            prev_since)


def ins1_samples_to_physical(const uint8_t[::1] records not None, double p_lsb_kpa,
                             double acc_lsb_g, double gyr_lsb_dps):
    """SAMPLE records (59 bytes each) -> columns fz (N), cop_x, cop_y (normalised), p01..p16
    (kPa, NaN for a faulty sensor, 0xFFFF), acc (g), gyr (deg/s): the float operations of
    :func:`forcelab.drivers.protocols.ins1.samples_to_physical`'s NumPy form."""
    cdef Py_ssize_t k = records.shape[0] // INS1_SAMPLE_SIZE, i, j
    if records.shape[0] != k * INS1_SAMPLE_SIZE:
        raise ValueError(f"INS1 sample records of {records.shape[0]} bytes")
    out_a = np.empty((k, 25), dtype=np.float64)
    cdef double[:, ::1] out = out_a
    cdef const uint8_t* r
    cdef uint16_t p
    cdef double nan = float("nan")
    if k == 0:
        return out_a
    for i in range(k):
        r = &records[i * INS1_SAMPLE_SIZE]
        out[i, 0] = _u16(r + 51) * 0.5
        out[i, 1] = _i16(r + 53) * 1e-4
        out[i, 2] = _i16(r + 55) * 1e-4
        for j in range(16):
            p = _u16(r + 7 + 2 * j)
            out[i, 3 + j] = nan if p == 0xFFFF else <double>p * p_lsb_kpa
        for j in range(3):
            out[i, 19 + j] = _i16(r + 39 + 2 * j) * acc_lsb_g
            out[i, 22 + j] = _i16(r + 45 + 2 * j) * gyr_lsb_dps
    return out_a


def ins1_block_checks(const uint8_t[::1] records not None, const double[:, ::1] values not None,
                      const double[::1] f_sum not None, double tolerance_n,
                      double tolerance_rel):
    """The per-block checks of INS1 samples in one pass, the same float operations as the
    NumPy forms in :mod:`forcelab.drivers.ins1_timeline`: the samples whose total force
    ``values[:, 0]`` and Σ p·A ``f_sum`` disagree (``|fz - f_sum| > max(tolerance_n,
    tolerance_rel * |fz|)``, as :func:`~forcelab.drivers.protocols.ins1.force_mismatch`; a NaN
    sum never mismatches), the samples with a faulty (NaN) pressure in columns 3..18, and the
    OR of the records' flags bytes.

    Returns
    -------
    tuple of int
        ``(n_mismatch, n_sensor_faults, flags)``.
    """
    cdef Py_ssize_t k = records.shape[0] // INS1_SAMPLE_SIZE, i, j
    if records.shape[0] != k * INS1_SAMPLE_SIZE or values.shape[0] != k or \
            f_sum.shape[0] != k or values.shape[1] < 19:
        raise ValueError("INS1 block checks: records, values and sums disagree in size")
    cdef Py_ssize_t n_mismatch = 0, n_fault = 0
    cdef int flags = 0
    cdef double ft, tol, p
    for i in range(k):
        ft = values[i, 0]
        tol = tolerance_rel * fabs(ft)
        if not tol >= tolerance_n:  # np.maximum: NaN propagates
            tol = tolerance_n if tol == tol else tol
        if fabs(ft - f_sum[i]) > tol:
            n_mismatch += 1
        for j in range(3, 19):
            p = values[i, j]
            if p != p:
                n_fault += 1
                break
        flags |= records[i * INS1_SAMPLE_SIZE + INS1_SAMPLE_SIZE - 1]
    return n_mismatch, n_fault, flags


# ---------------------------------------------------------------------------------------------
# Port reads
# ---------------------------------------------------------------------------------------------
cdef enum:
    READ_CHUNK = 16384


def read_waiting(int fd, Py_ssize_t max_bytes):
    """The bytes waiting on the non-blocking file descriptor ``fd`` (at most ``max_bytes``),
    b"" when none are (EAGAIN, or a terminal with VMIN = 0 that has nothing), in one ``read``
    for the usual few kB. Unlike ``os.read`` it keeps the GIL: the call never blocks, and a
    streaming read does not hand the GIL to another thread and wait to get it back.

    Raises
    ------
    OSError
        The read failed (EIO: the port went away) before any byte was read.
    """
    cdef char buf[READ_CHUNK]
    cdef ssize_t n
    cdef Py_ssize_t total = 0
    chunks = []
    while total < max_bytes:
        n = posix_read(fd, buf, min(<Py_ssize_t>READ_CHUNK, max_bytes - total))
        if n < 0:
            if errno == EAGAIN or errno == EINTR or total:  # EWOULDBLOCK is EAGAIN on Linux
                break  # nothing more now; an error after bytes comes again with the next call
            PyErr_SetFromErrno(OSError)
        if n == 0:
            break
        piece = PyBytes_FromStringAndSize(buf, n)
        if n < READ_CHUNK and not chunks:
            return piece  # the usual read: everything waiting fit in one chunk
        chunks.append(piece)
        total += n
    return b"".join(chunks)
