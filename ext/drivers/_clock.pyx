# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled line fit of :class:`forcelab.drivers.clock.ClockFit` (private; compiled into
``forcelab.drivers._clock``; use ``ClockFit``).

A driver refits its clock after every round trip (INS1 four times a second per insole, FPB1
once a second per plate): as some twenty NumPy calls on a few hundred points that took ~450 µs
of the acquisition thread each, on a machine whose caches the other threads keep cold; in one
call it is a few µs. The arithmetic is NumPy's where the result depends on it (the lower
quartile interpolated as ``np.percentile`` does, the bin edges as ``np.linspace`` makes them,
the lowest round trip per bin with the earlier point on ties, as a stable ``np.lexsort``
picks it). The line through the chosen points comes from centred sums, exact to the last bit
on them; ``np.polyfit``, which solved for host times near 1.7e9 s without centring them, was
off by up to 7 ppm in the skew on a few points. The NumPy form is kept in
tests/drivers/reference_clock.py, and the tests compare the two (with the exact line).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport fabs, floor
from libc.stdlib cimport qsort


cdef int _cmp_double(const void *a, const void *b) noexcept nogil:
    cdef double x = (<const double *>a)[0]
    cdef double y = (<const double *>b)[0]
    return (x > y) - (x < y)


cdef double _lower_quartile(const double *v, Py_ssize_t n, double *scratch) noexcept:
    """``np.percentile(v, 25)`` (the 'linear' method, NumPy's two-sided interpolation)."""
    cdef Py_ssize_t i
    for i in range(n):
        scratch[i] = v[i]
    qsort(scratch, n, sizeof(double), _cmp_double)
    cdef double virtual = (n - 1) * 0.25
    cdef Py_ssize_t lo = <Py_ssize_t>floor(virtual)
    cdef Py_ssize_t hi = lo + 1 if lo + 1 < n else n - 1
    cdef double t = virtual - lo
    cdef double a = scratch[lo]
    cdef double diff = scratch[hi] - a
    if t >= 0.5:
        return scratch[hi] - diff * (1.0 - t)
    return a + diff * t


cdef int _line(const double *x, const double *y, Py_ssize_t n,
               double *off, double *skew) noexcept:
    """Fit ``y - x = off + (skew - 1) · x``: least squares when the x spread, else the mean."""
    cdef Py_ssize_t i
    cdef double xmin = x[0], xmax = x[0], sx = 0.0, sz = 0.0
    for i in range(n):
        if x[i] < xmin:
            xmin = x[i]
        if x[i] > xmax:
            xmax = x[i]
        sx += x[i]
        sz += y[i] - x[i]
    cdef double xbar = sx / n, zbar = sz / n, sxx = 0.0, sxz = 0.0, dx
    if n < 2 or not xmax - xmin > 0:
        off[0] = zbar
        skew[0] = 1.0
        return 0
    for i in range(n):
        dx = x[i] - xbar
        sxx += dx * dx
        sxz += dx * ((y[i] - x[i]) - zbar)
    cdef double slope = sxz / sxx
    off[0] = zbar - slope * xbar
    skew[0] = slope + 1.0
    return 0


def fit_clock_line(list dev_s, list host_s, list delay_s, gate_s, int n_bins,
                   double min_span_s, double outlier_s):
    """The line of :meth:`ClockFit._fit` through the points (device s, host s, delay s):
    ``(t_ref_dev_s, offset_s, skew)`` with ``t_host = offset + skew · (t_dev − t_ref)``.

    Points whose delay is above ``max(gate_s, 4 × the lower quartile)`` are left out (with
    4 or more points, and only if 2 remain; ``gate_s`` None: never). Spanning less than
    ``min_span_s`` (or fewer than 3 points): the best of the 5 most recent, skew 1. Otherwise
    the lowest-delay point of each of ``n_bins`` equal device-time bins, a line through them,
    refitted once without the points farther than ``outlier_s`` from it.
    """
    cdef Py_ssize_t n = len(dev_s), i, k, m
    if n == 0 or len(host_s) != n or len(delay_s) != n:
        raise ValueError("the clock fit needs the same number (> 0) of device times, host "
                         "times and delays")
    if n_bins < 1:
        raise ValueError("the clock fit needs at least one bin")
    cdef double *buf = <double *>PyMem_Malloc((5 * n + 2 * n_bins) * sizeof(double))
    cdef Py_ssize_t *best = <Py_ssize_t *>PyMem_Malloc(n_bins * sizeof(Py_ssize_t))
    if buf == NULL or best == NULL:
        PyMem_Free(buf)
        PyMem_Free(best)
        raise MemoryError()
    cdef double *dev = buf
    cdef double *host = buf + n
    cdef double *rtt = buf + 2 * n
    cdef double *x = buf + 3 * n
    cdef double *y = buf + 4 * n
    cdef double lo, hi, step, threshold, ref, off = 0.0, skew = 1.0, resid
    cdef Py_ssize_t b, kept
    try:
        for i in range(n):
            dev[i] = dev_s[i]
            host[i] = host_s[i]
            rtt[i] = delay_s[i]
        if gate_s is not None and n >= 4:
            # round trips far above the usual ones were delayed on one leg: not used
            threshold = 4.0 * _lower_quartile(rtt, n, x)
            if <double>gate_s > threshold:
                threshold = <double>gate_s
            kept = 0
            for i in range(n):
                if rtt[i] <= threshold:
                    kept += 1
            if kept >= 2:
                k = 0
                for i in range(n):
                    if rtt[i] <= threshold:
                        dev[k] = dev[i]
                        host[k] = host[i]
                        rtt[k] = rtt[i]
                        k += 1
                n = k
        lo = hi = dev[0]
        for i in range(n):
            if dev[i] < lo:
                lo = dev[i]
            if dev[i] > hi:
                hi = dev[i]
        if hi - lo < min_span_s or n < 3:
            # too short to see a rate error: offset from the best of the most recent points
            k = n - 5 if n > 5 else 0
            for i in range(k + 1, n):
                if rtt[i] < rtt[k]:
                    k = i
            return dev[k], host[k], 1.0
        # the lowest round trip of each bin (np.linspace edges, np.searchsorted side='right')
        step = (hi - lo) / n_bins
        for b in range(n_bins):
            best[b] = -1
        for i in range(n):
            # edges e_j = j · step + lo (j < n_bins), e_n_bins = hi; the bin is the number of
            # edges <= dev[i], minus one, at most n_bins - 1
            b = 1
            while b < n_bins and b * step + lo <= dev[i]:
                b += 1
            if b == n_bins and hi <= dev[i]:
                b += 1
            b = b - 1 if b - 1 < n_bins else n_bins - 1
            if best[b] < 0 or rtt[i] < rtt[best[b]]:
                best[b] = i
        m = 0
        ref = 0.0
        for b in range(n_bins):
            if best[b] >= 0:
                ref += dev[best[b]]
                m += 1
        ref /= m
        k = 0
        for b in range(n_bins):
            if best[b] >= 0:
                x[k] = dev[best[b]] - ref
                y[k] = host[best[b]]
                k += 1
        for _ in range(2):
            _line(x, y, m, &off, &skew)
            kept = 0
            for i in range(m):
                resid = y[i] - (off + skew * x[i])
                if fabs(resid) <= outlier_s:
                    kept += 1
            if kept == m or kept < 2:
                break
            k = 0
            for i in range(m):
                resid = y[i] - (off + skew * x[i])
                if fabs(resid) <= outlier_s:
                    x[k] = x[i]
                    y[k] = y[i]
                    k += 1
            m = k
        return ref, off, skew
    finally:
        PyMem_Free(buf)
        PyMem_Free(best)
