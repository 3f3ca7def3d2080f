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
from libc.math cimport NAN, fabs
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
# FPB1 blocks: the usual read, and counts / loads -> samples
# ---------------------------------------------------------------------------------------------
cdef inline void _fpb1_row(const double* ld, double a, double b, double c, double threshold_n,
                           double* out) noexcept nogil:
    """One sample: the loads ``ld`` (6), then COP x, y and the free moment Tz, NaN where
    Fz < ``threshold_n`` (the operations of the NumPy form, in its order)."""
    cdef double fx = ld[0], fy = ld[1], fz = ld[2], mx = ld[3], my = ld[4], mz = ld[5]
    cdef double inv_fz, x, y
    cdef int j
    for j in range(6):
        out[j] = ld[j]
    inv_fz = 1.0 / fz if fz >= threshold_n else NAN
    x = (my + c * fx) * inv_fz
    y = (mx - c * fy) * inv_fz
    out[8] = mz - x * fy + y * fx
    out[6] = x + a
    out[7] = y + b


cdef inline void _fpb1_samples_into(const uint8_t* rec, Py_ssize_t n, int fmt,
                                    const double* m_t, double a, double b, double c,
                                    double threshold_n, double* out) noexcept nogil:
    """``n`` DATA records (24 bytes: six little-endian int32 counts, fmt 0, or float32 loads,
    fmt 1) -> ``n`` samples of 9 columns. Counts go through ``m_t`` (6×6, row-major:
    loads = counts @ m_t), each load summed over the bridges in order, without FMA."""
    cdef Py_ssize_t i
    cdef int j, k
    cdef int32_t counts[6]
    cdef float cal[6]
    cdef double v[6]
    cdef double ld[6]
    cdef double acc
    for i in range(n):
        if fmt == 0:
            memcpy(counts, rec + 24 * i, 24)
            for j in range(6):
                v[j] = <double>counts[j]
            for j in range(6):
                acc = v[0] * m_t[j]
                for k in range(1, 6):
                    acc = acc + v[k] * m_t[6 * k + j]
                ld[j] = acc
        else:
            memcpy(cal, rec + 24 * i, 24)
            for j in range(6):
                ld[j] = <double>cal[j]
        _fpb1_row(ld, a, b, c, threshold_n, out + 9 * i)


def fpb1_loads_to_samples(const double[:, ::1] loads not None, double a, double b, double c,
                          double threshold_n):
    """Loads (n, 6) -> samples (n, 9): the loads, then COP x, y and the free moment Tz, NaN
    where Fz < ``threshold_n`` (see :func:`forcelab.drivers.protocols.fpb1.loads_to_samples`;
    the same operations in the same order as its NumPy form)."""
    cdef Py_ssize_t n = loads.shape[0], i
    if loads.shape[1] != 6:
        raise ValueError(f"loads must have 6 columns, not {loads.shape[1]}")
    out_a = np.empty((n, 9), dtype=np.float64)
    cdef double* out = <double*>cnp.PyArray_DATA(out_a)
    for i in range(n):
        _fpb1_row(&loads[i, 0], a, b, c, threshold_n, out + 9 * i)
    return out_a


def fpb1_samples(const uint8_t[::1] records not None, int fmt,
                 const double[:, ::1] counts_to_loads not None, double a, double b, double c,
                 double threshold_n):
    """The samples (n, 9) of ``n`` DATA records back to back (24 bytes each: int32 counts,
    ``fmt`` 0, through ``counts_to_loads`` (6×6, loads = counts @ it); float32 loads, fmt 1),
    then COP and free moment as :func:`fpb1_loads_to_samples`. The general path's form of what
    :func:`fpb1_usual_read` computes (the same operations)."""
    cdef Py_ssize_t n = records.shape[0] // 24
    if records.shape[0] != 24 * n or counts_to_loads.shape[0] != 6 or \
            counts_to_loads.shape[1] != 6:
        raise ValueError("FPB1 records of 24 bytes and a 6x6 matrix expected")
    out_a = np.empty((n, 9), dtype=np.float64)
    if n:
        _fpb1_samples_into(&records[0], n, fmt, &counts_to_loads[0, 0], a, b, c, threshold_n,
                           <double*>cnp.PyArray_DATA(out_a))
    return out_a


def fpb1_usual_read(bytearray buf not None, int data_type, int n, int fmt, int64_t ref_seq,
                    int64_t last_wire_for_t, int64_t last_t_us, int64_t next_wire_seq,
                    int64_t step_us, double tol_us, const double[:, ::1] counts_to_loads not None,
                    double a, double b, double c, double threshold_n):
    """The usual read of a streaming FPB1 plate in one call: the bytes held in ``buf`` (the
    codec's buffer, not modified) are whole DATA frames of ``n`` samples in format
    ``fmt`` with good CRCs from the first byte on, then at most the start of the next frame;
    each frame continues the one before it by ``n`` (the first from the last good frame
    ``ref_seq``, the last time-stamped frame ``last_wire_for_t`` and the expected
    ``next_wire_seq``), each device-clock step is ``step_us`` within ``tol_us`` (the first from
    ``last_t_us``), and all carry one status. Those frames are what the scanner and every check
    of the FPB1 timeline let through as one Block, untouched; here they become its samples while
    the bytes are checked (see :func:`fpb1_samples`).

    Returns
    -------
    tuple or None
        ``(consumed, frames, samples, first t_us, last seq, last t_us, status)``; None when the
        bytes are anything else (a reply, damage, a gap, a jump, no whole frame): the general
        path then scans them.
    """
    cdef Py_ssize_t nb = len(buf)
    if nb < 8 or counts_to_loads.shape[0] != 6 or counts_to_loads.shape[1] != 6:
        return None
    cdef const uint8_t* p = <const uint8_t*>(<char*>buf)
    cdef Py_ssize_t pos = 0, length, end, k = 0, rest
    cdef Py_ssize_t frame_len = 8 + FPB1_DATA_HEADER + 24 * n
    cdef int64_t seq, t_us, prev_seq = 0, prev_t = 0, first_t = 0
    cdef int status = 0, st
    # whole frames first: every check before anything is computed
    while True:
        rest = nb - pos
        if rest == 0:
            break
        if p[pos] != 0xA5:
            return None
        if rest == 1:
            break  # a lone 0xA5: the scanner keeps it too
        if p[pos + 1] != 0x5A:
            return None
        if rest < 6:
            break
        length = p[pos + 4] | (p[pos + 5] << 8)
        if length > FPB1_MAX_LEN:
            return None
        end = pos + 6 + length
        if nb < end + 2:
            break  # the next frame is still coming
        if p[pos + 2] != data_type or length + 8 != frame_len or p[pos + 18] != n or \
                p[pos + 19] != fmt:
            return None
        if _crc_ccitt(p + pos + 2, 4 + length) != (p[end] | (p[end + 1] << 8)):
            return None
        seq = _u32(p + pos + 6)
        t_us = <int64_t>_u64(p + pos + 10)
        st = p[pos + 20] | (p[pos + 21] << 8)
        if k == 0:
            if seq - ref_seq != n or seq - last_wire_for_t != n or seq != next_wire_seq:
                return None
            if not abs(<double>(t_us - last_t_us - step_us)) <= tol_us:
                return None
            status = st
            first_t = t_us
        elif seq - prev_seq != n or st != status or \
                not abs(<double>(t_us - prev_t - step_us)) <= tol_us:
            return None
        prev_seq = seq
        prev_t = t_us
        k += 1
        pos = end + 2
    if k == 0:
        return None
    out_a = np.empty((k * n, 9), dtype=np.float64)
    cdef double* out = <double*>cnp.PyArray_DATA(out_a)
    cdef Py_ssize_t i
    for i in range(k):
        _fpb1_samples_into(p + i * frame_len + 6 + FPB1_DATA_HEADER, n, fmt,
                           &counts_to_loads[0, 0], a, b, c, threshold_n, out + 9 * n * i)
    return pos, k, out_a, first_t, prev_seq, prev_t, status


# ---------------------------------------------------------------------------------------------
# INS1 samples: the usual read, and counts -> physical units
# ---------------------------------------------------------------------------------------------
cdef enum:
    INS1_SAMPLE_SIZE = 59
    INS1_N_SENSORS = 16


cdef inline uint16_t _u16(const uint8_t* p) noexcept nogil:
    return p[0] | (p[1] << 8)


cdef inline int16_t _i16(const uint8_t* p) noexcept nogil:
    return <int16_t>(p[0] | (p[1] << 8))


cdef inline void _ins1_physical(const uint8_t* r, double p_lsb_kpa, double acc_lsb_g,
                                double gyr_lsb_dps, double* out) noexcept nogil:
    """One SAMPLE record -> its 25 columns (see :func:`ins1_samples_to_physical`)."""
    cdef int j
    cdef uint16_t p
    out[0] = _u16(r + 51) * 0.5
    out[1] = _i16(r + 53) * 1e-4
    out[2] = _i16(r + 55) * 1e-4
    for j in range(16):
        p = _u16(r + 7 + 2 * j)
        out[3 + j] = NAN if p == 0xFFFF else <double>p * p_lsb_kpa
    for j in range(3):
        out[19 + j] = _i16(r + 39 + 2 * j) * acc_lsb_g
        out[22 + j] = _i16(r + 45 + 2 * j) * gyr_lsb_dps


cdef inline double _ins1_force(const double* p, const double* weights) noexcept nogil:
    """Σ p·A (N) of 16 pressures ``p`` (kPa) with ``weights`` = the sensor areas in mm² × 1e-3
    (N per kPa), summed over the sensors in order, without FMA."""
    cdef double acc = p[0] * weights[0]
    cdef int j
    for j in range(1, INS1_N_SENSORS):
        acc = acc + p[j] * weights[j]
    return acc


cdef inline bint _ins1_mismatch(double ft, double f_sum, double tolerance_n,
                                double tolerance_rel) noexcept nogil:
    """``|fz - f_sum| > max(tolerance_n, tolerance_rel * |fz|)`` as NumPy takes it (a NaN
    tolerance propagates; a NaN sum never mismatches)."""
    cdef double tol = tolerance_rel * fabs(ft)
    if not tol >= tolerance_n:  # np.maximum: NaN propagates
        tol = tolerance_n if tol == tol else tol
    return fabs(ft - f_sum) > tol


cdef inline bint _ins1_fault(const double* v) noexcept nogil:
    """A faulty (NaN) pressure among columns 3..18 of one sample."""
    cdef int j
    for j in range(3, 19):
        if v[j] != v[j]:
            return True
    return False


cdef bint _ins1_continues(const uint8_t* r, Py_ssize_t stride, Py_ssize_t k, int64_t ref_seq,
                          int64_t seq_last16, int64_t t_last_raw, double period_us,
                          double tol_us, int64_t* out) noexcept nogil:
    """Every one of ``k`` SAMPLE records (``stride`` bytes apart) continues the one before it:
    sequence number + 1 (from ``ref_seq``, the last good sample, as plain differences; and from
    ``seq_last16`` modulo 2^16), device-clock step (modulo 2^32, from ``t_last_raw``) one
    ``period_us`` within ``tol_us``. ``out``: last seq, last raw time, µs from ``t_last_raw``
    to the first sample, ... to the last."""
    cdef Py_ssize_t i
    cdef int64_t seq, prev_seq = ref_seq, since, prev_since = 0, first_since = 0
    if k == 0 or ((<int64_t>_u16(r + 1) - seq_last16) & 0xFFFF) != 1:
        return False
    for i in range(k):
        seq = _u16(r + i * stride + 1)
        if seq - prev_seq != 1:
            return False
        prev_seq = seq
        since = (<int64_t>_u32(r + i * stride + 3) - t_last_raw) & 0xFFFFFFFFLL
        if i == 0:
            if fabs(<double>since - period_us) > tol_us:
                return False
            first_since = since
        elif fabs(<double>(since - prev_since) - period_us) > tol_us:
            return False
        prev_since = since
    out[0] = prev_seq
    out[1] = <int64_t>_u32(r + (k - 1) * stride + 3)
    out[2] = first_since
    out[3] = prev_since
    return True


def ins1_samples_to_physical(const uint8_t[::1] records not None, double p_lsb_kpa,
                             double acc_lsb_g, double gyr_lsb_dps):
    """SAMPLE records (59 bytes each) -> columns fz (N), cop_x, cop_y (normalised), p01..p16
    (kPa, NaN for a faulty sensor, 0xFFFF), acc (g), gyr (deg/s): the float operations of
    :func:`forcelab.drivers.protocols.ins1.samples_to_physical`'s NumPy form."""
    cdef Py_ssize_t k = records.shape[0] // INS1_SAMPLE_SIZE, i
    if records.shape[0] != k * INS1_SAMPLE_SIZE:
        raise ValueError(f"INS1 sample records of {records.shape[0]} bytes")
    out_a = np.empty((k, 25), dtype=np.float64)
    cdef double* out = <double*>cnp.PyArray_DATA(out_a)
    for i in range(k):
        _ins1_physical(&records[i * INS1_SAMPLE_SIZE], p_lsb_kpa, acc_lsb_g, gyr_lsb_dps,
                       out + 25 * i)
    return out_a


def ins1_force_from_pressures(const double[:, :] p_kpa not None,
                              const double[::1] weights not None):
    """Σ p·A (N) per sample of pressures (n, 16) in kPa with ``weights`` (16) the sensor areas
    in mm² × 1e-3, summed over the sensors in order (the sum the usual read makes)."""
    cdef Py_ssize_t n = p_kpa.shape[0], i, j
    if p_kpa.shape[1] != INS1_N_SENSORS or weights.shape[0] != INS1_N_SENSORS:
        raise ValueError("pressures (n, 16) and 16 sensor areas expected")
    out_a = np.empty(n, dtype=np.float64)
    cdef double* out = <double*>cnp.PyArray_DATA(out_a)
    cdef double row[INS1_N_SENSORS]
    for i in range(n):
        for j in range(INS1_N_SENSORS):
            row[j] = p_kpa[i, j]
        out[i] = _ins1_force(row, &weights[0])
    return out_a


def ins1_block_checks(const uint8_t[::1] records not None, const double[:, ::1] values not None,
                      const double[::1] f_sum not None, double tolerance_n,
                      double tolerance_rel):
    """The per-sample checks :func:`ins1_usual_read` makes, on their own (the tests hold them
    against the NumPy forms of :mod:`forcelab.drivers.ins1_timeline`'s general path at the
    tolerance edges): the samples whose total force ``values[:, 0]`` and Σ p·A ``f_sum``
    disagree (as :func:`~forcelab.drivers.protocols.ins1.force_mismatch`), the samples with a
    faulty (NaN) pressure in columns 3..18, and the OR of the records' flags bytes.

    Returns
    -------
    tuple of int
        ``(n_mismatch, n_sensor_faults, flags)``.
    """
    cdef Py_ssize_t k = records.shape[0] // INS1_SAMPLE_SIZE, i
    if records.shape[0] != k * INS1_SAMPLE_SIZE or values.shape[0] != k or \
            f_sum.shape[0] != k or values.shape[1] != 25:
        raise ValueError("INS1 block checks: records, values and sums disagree in size")
    cdef Py_ssize_t n_mismatch = 0, n_fault = 0
    cdef int flags = 0
    for i in range(k):
        n_mismatch += _ins1_mismatch(values[i, 0], f_sum[i], tolerance_n, tolerance_rel)
        n_fault += _ins1_fault(&values[i, 0])
        flags |= records[i * INS1_SAMPLE_SIZE + INS1_SAMPLE_SIZE - 1]
    return n_mismatch, n_fault, flags


def ins1_usual_read(bytearray buf not None, int sample_type, int64_t ref_seq,
                    int64_t seq_last16, int64_t t_last_raw, double period_us, double tol_us,
                    double p_lsb_kpa, double acc_lsb_g, double gyr_lsb_dps,
                    const double[::1] weights not None, double tolerance_n,
                    double tolerance_rel):
    """The usual read of a streaming INS1 insole in one call: the bytes held in ``buf`` (the
    buffer of a codec that lost nothing, not modified) are whole SAMPLE frames (59-byte
    payloads, good CRCs) from the first byte on, then at most the start of the next frame, and
    every sample continues the one before it (see :func:`_ins1_continues`; the first from
    ``ref_seq``, ``seq_last16`` and ``t_last_raw``). Those samples are what the scanner and
    every check of the INS1 timeline let through as one Block; here they become its values
    (:func:`ins1_samples_to_physical`), with the Σ p·A cross-check against ``weights``
    (:func:`ins1_force_from_pressures`), the faulty sensors and the flags
    (:func:`ins1_block_checks`), while the bytes are checked.

    Returns
    -------
    tuple or None
        ``(consumed, frames, bytes_examined, values, last seq, last raw time, µs from
        t_last_raw to the first sample, ... to the last, n_mismatch, n_sensor_faults, flags)``
        (``bytes_examined`` as the scanner counts it); None when the bytes are anything else (a
        reply, an event, damage, a gap, a jump, no whole frame): the general path then scans
        them.
    """
    cdef Py_ssize_t nb = len(buf)
    if nb < INS1_HEADER or weights.shape[0] != INS1_N_SENSORS:
        return None
    cdef const uint8_t* b = <const uint8_t*>(<char*>buf)
    cdef Py_ssize_t frame_len = INS1_OVERHEAD + INS1_SAMPLE_SIZE, pos = 0, rest, k = 0, ln
    cdef long long examined = 0
    while True:
        rest = nb - pos
        if rest < 4:
            examined += rest  # no room for a magic: the scanner keeps these bytes
            break
        if not (b[pos] == 0x49 and b[pos + 1] == 0x4E and b[pos + 2] == 0x53 and
                b[pos + 3] == 0x31):
            return None
        examined += 4
        if rest < INS1_HEADER:
            break
        ln = b[pos + 6] | (b[pos + 7] << 8)
        if b[pos + 4] != 1 or ln > INS1_MAX_PAYLOAD:
            return None
        if rest < INS1_OVERHEAD + ln:
            break  # the next frame is still coming
        if b[pos + 5] != sample_type or ln != INS1_SAMPLE_SIZE:
            return None
        if _crc_modbus(b + pos, INS1_HEADER + ln) != _u16(b + pos + INS1_HEADER + ln):
            return None
        examined += frame_len
        k += 1
        pos += frame_len
    cdef int64_t cont[4]
    cdef const uint8_t* r = b + INS1_HEADER
    if k == 0 or not _ins1_continues(r, frame_len, k, ref_seq, seq_last16, t_last_raw,
                                     period_us, tol_us, cont):
        return None
    out_a = np.empty((k, 25), dtype=np.float64)
    cdef double* v = <double*>cnp.PyArray_DATA(out_a)
    cdef Py_ssize_t i, n_mismatch = 0, n_fault = 0
    cdef int flags = 0
    for i in range(k):
        _ins1_physical(r + i * frame_len, p_lsb_kpa, acc_lsb_g, gyr_lsb_dps, v + 25 * i)
        n_mismatch += _ins1_mismatch(v[25 * i], _ins1_force(v + 25 * i + 3, &weights[0]),
                                     tolerance_n, tolerance_rel)
        n_fault += _ins1_fault(v + 25 * i)
        flags |= r[i * frame_len + INS1_SAMPLE_SIZE - 1]
    return (pos, k, examined, out_a, cont[0], cont[1], cont[2], cont[3], n_mismatch, n_fault,
            flags)


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
