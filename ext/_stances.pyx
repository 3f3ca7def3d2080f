# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled stance detection and per-stance metrics (private; use forcelab.analysis).

The detector is a causal state machine (flight, stance, tentative flight) with hysteresis
thresholds relative to a baseline tracked from flight/swing phases. It keeps only running
accumulators, so feeding the data in chunks gives exactly the result of one call.
forcelab/analysis/reference.py holds the pure NumPy implementation of the same definitions.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport sqrt, floor, NAN, INFINITY
from libc.string cimport memcpy

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define FL_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #define FL_PREFETCH(p) ((void)0)
    #endif
    #include <stdint.h>
    #include <string.h>
    /* x86 compilers that take per-function targets: the hot loops below also exist as AVX2
       (4 doubles per register) functions, used when the CPU has AVX2 (checked once). No FMA:
       every product and sum is rounded as in the SSE2 and scalar forms (bit-identical). */
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    #include <immintrin.h>
    #define FL_AVX2 1
    #define FL_TARGET_AVX2 __attribute__((target("avx2")))
    static int fl_avx2 = -1;
    static inline int FL_HAVE_AVX2(void) {
        if (fl_avx2 < 0)
            fl_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        return fl_avx2;
    }
    static int FL_USE_AVX2(int on) {
        fl_avx2 = on && __builtin_cpu_supports("avx2");
        return fl_avx2;
    }
    #else
    static int FL_USE_AVX2(int on) {
        return 0;
    }
    #endif
    /* v when ok, else +0.0, by a bit mask: no branch to mispredict when `ok` is random
       (flight samples around a cut level) */
    static inline double FL_KEEP(double v, int ok) {
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        u &= (uint64_t)0 - (uint64_t)(ok != 0);
        memcpy(&v, &u, sizeof v);
        return v;
    }
    #ifdef __SSE2__
    #include <emmintrin.h>
    #endif
    /* Blocks of four samples p[0:len] (len a multiple of 4, lane r = index mod 4): each lane's
       sum and sum of squares of (p - base) over the samples below `thr` (finite or -inf
       excluded) are added to s4[r] and q4[r]; returns how many samples were added. Same
       additions in the same order as the scalar loop (bit-identical). */
    #ifdef FL_AVX2
    FL_TARGET_AVX2 static Py_ssize_t FL_ACC_BELOW_AVX2(const double* p, Py_ssize_t len,
                                                      double base, double thr, double* s4,
                                                      double* q4) {
        Py_ssize_t j = 0;
        int64_t c[4];
        __m256d s = _mm256_loadu_pd(s4), q = _mm256_loadu_pd(q4);
        __m256i cnt = _mm256_setzero_si256();
        const __m256d vt = _mm256_set1_pd(thr), vn = _mm256_set1_pd(-INFINITY);
        const __m256d vb = _mm256_set1_pd(base);
        for (; j + 4 <= len; j += 4) {
            __m256d v = _mm256_loadu_pd(p + j);
            __m256d m = _mm256_and_pd(_mm256_cmp_pd(v, vt, _CMP_LT_OQ),
                                      _mm256_cmp_pd(v, vn, _CMP_GT_OQ));
            __m256d d = _mm256_and_pd(_mm256_sub_pd(v, vb), m);
            s = _mm256_add_pd(s, d);
            q = _mm256_add_pd(q, _mm256_mul_pd(d, d));
            cnt = _mm256_sub_epi64(cnt, _mm256_castpd_si256(m));
        }
        _mm256_storeu_pd(s4, s);
        _mm256_storeu_pd(q4, q);
        _mm256_storeu_si256((__m256i*)c, cnt);
        return (Py_ssize_t)((c[0] + c[1]) + (c[2] + c[3]));
    }
    #endif
    static inline Py_ssize_t FL_ACC_BELOW(const double* p, Py_ssize_t len, double base,
                                          double thr, double* s4, double* q4) {
        Py_ssize_t j = 0;
        int64_t c[4] = {0, 0, 0, 0};
    #ifdef FL_AVX2
        if (FL_HAVE_AVX2())
            return FL_ACC_BELOW_AVX2(p, len, base, thr, s4, q4);
    #endif
    #ifdef __SSE2__
        __m128d s01 = _mm_loadu_pd(s4), s23 = _mm_loadu_pd(s4 + 2);
        __m128d q01 = _mm_loadu_pd(q4), q23 = _mm_loadu_pd(q4 + 2);
        __m128i c01 = _mm_setzero_si128(), c23 = _mm_setzero_si128();
        const __m128d vt = _mm_set1_pd(thr), vn = _mm_set1_pd(-INFINITY);
        const __m128d vb = _mm_set1_pd(base);
        for (; j + 4 <= len; j += 4) {
            __m128d v01 = _mm_loadu_pd(p + j), v23 = _mm_loadu_pd(p + j + 2);
            __m128d m01 = _mm_and_pd(_mm_cmplt_pd(v01, vt), _mm_cmpgt_pd(v01, vn));
            __m128d m23 = _mm_and_pd(_mm_cmplt_pd(v23, vt), _mm_cmpgt_pd(v23, vn));
            __m128d d01 = _mm_and_pd(_mm_sub_pd(v01, vb), m01);
            __m128d d23 = _mm_and_pd(_mm_sub_pd(v23, vb), m23);
            s01 = _mm_add_pd(s01, d01);
            s23 = _mm_add_pd(s23, d23);
            q01 = _mm_add_pd(q01, _mm_mul_pd(d01, d01));
            q23 = _mm_add_pd(q23, _mm_mul_pd(d23, d23));
            c01 = _mm_sub_epi64(c01, _mm_castpd_si128(m01));
            c23 = _mm_sub_epi64(c23, _mm_castpd_si128(m23));
        }
        _mm_storeu_pd(s4, s01);
        _mm_storeu_pd(s4 + 2, s23);
        _mm_storeu_pd(q4, q01);
        _mm_storeu_pd(q4 + 2, q23);
        _mm_storeu_si128((__m128i*)c, c01);
        _mm_storeu_si128((__m128i*)(c + 2), c23);
    #else
        for (; j + 4 <= len; j += 4) {
            for (int r = 0; r < 4; r++) {
                int ok = p[j + r] < thr && p[j + r] > -INFINITY;
                double d = FL_KEEP(p[j + r] - base, ok);
                s4[r] += d;
                q4[r] += d * d;
                c[r] += ok;
            }
        }
    #endif
        return (Py_ssize_t)((c[0] + c[1]) + (c[2] + c[3]));
    }
    /* Samples p[0:len] below `cut` (finite or +-inf excluded): their sum and count, summed in
       four lanes by index mod 4 (the remainder goes to lane 0) and the lanes added as
       (0 + 1) + (2 + 3). The blocks are FL_ACC_BELOW's sums about 0 (p - 0.0 is p exactly). */
    static inline void FL_SUM_BELOW(const double* p, Py_ssize_t len, double cut,
                                    double* sum, Py_ssize_t* count) {
        double a[4] = {0.0, 0.0, 0.0, 0.0}, q[4] = {0.0, 0.0, 0.0, 0.0};
        Py_ssize_t j = len & ~(Py_ssize_t)3;
        Py_ssize_t n = FL_ACC_BELOW(p, j, 0.0, cut, a, q);
        for (; j < len; j++) {
            int ok = p[j] < cut && p[j] > -INFINITY;
            a[0] += FL_KEEP(p[j], ok);
            n += ok;
        }
        *sum = (a[0] + a[1]) + (a[2] + a[3]);
        *count = n;
    }
    /* The detector's fast paths over blocks of 8 samples p[i:i + 8] (i + 8 <= n), each the
       scalar loop's test applied to the whole block; they stop at the first block that fails
       it (the scalar loop takes over there) and return its start.
       FL_FLIGHT8: while every sample is <= on and > -inf (flight); *last_low = the last index
       below off. FL_STANCE8: while every sample is >= lo and < +inf (stance); *hi rises to
       their maximum. Both ask for the samples FL_AHEAD ahead: one 4 KiB page, where the
       hardware prefetcher stops. */
    #define FL_AHEAD 512
    #ifdef FL_AVX2
    FL_TARGET_AVX2 static Py_ssize_t FL_FLIGHT8_AVX2(const double* p, Py_ssize_t i,
                                                    Py_ssize_t n, double on, double off,
                                                    Py_ssize_t* last_low) {
        const __m256d von = _mm256_set1_pd(on), voff = _mm256_set1_pd(off);
        const __m256d vn = _mm256_set1_pd(-INFINITY);
        for (; i + 8 <= n; i += 8) {
            if (i + FL_AHEAD < n)
                FL_PREFETCH(p + i + FL_AHEAD);
            __m256d a = _mm256_loadu_pd(p + i), b = _mm256_loadu_pd(p + i + 4);
            __m256d fin = _mm256_and_pd(_mm256_cmp_pd(a, vn, _CMP_GT_OQ),
                                        _mm256_cmp_pd(b, vn, _CMP_GT_OQ));
            __m256d low = _mm256_and_pd(_mm256_cmp_pd(a, voff, _CMP_LT_OQ),
                                        _mm256_cmp_pd(b, voff, _CMP_LT_OQ));
            if (_mm256_movemask_pd(_mm256_and_pd(fin, low)) == 15 && off <= on) {
                *last_low = i + 7;  /* all below off, so all at or below on */
                continue;
            }
            __m256d le = _mm256_and_pd(_mm256_cmp_pd(a, von, _CMP_LE_OQ),
                                       _mm256_cmp_pd(b, von, _CMP_LE_OQ));
            if (_mm256_movemask_pd(_mm256_and_pd(fin, le)) != 15)
                break;
            for (Py_ssize_t j = i; j < i + 8; j++)
                if (p[j] < off)
                    *last_low = j;
        }
        return i;
    }
    FL_TARGET_AVX2 static Py_ssize_t FL_STANCE8_AVX2(const double* p, Py_ssize_t i,
                                                    Py_ssize_t n, double lo, double* hi) {
        const __m256d vlo = _mm256_set1_pd(lo), vinf = _mm256_set1_pd(INFINITY);
        __m256d mx = _mm256_set1_pd(*hi);
        double m4[4];
        for (; i + 8 <= n; i += 8) {
            if (i + FL_AHEAD < n)
                FL_PREFETCH(p + i + FL_AHEAD);
            __m256d a = _mm256_loadu_pd(p + i), b = _mm256_loadu_pd(p + i + 4);
            __m256d ok = _mm256_and_pd(
                _mm256_and_pd(_mm256_cmp_pd(a, vlo, _CMP_GE_OQ),
                              _mm256_cmp_pd(a, vinf, _CMP_LT_OQ)),
                _mm256_and_pd(_mm256_cmp_pd(b, vlo, _CMP_GE_OQ),
                              _mm256_cmp_pd(b, vinf, _CMP_LT_OQ)));
            if (_mm256_movemask_pd(ok) != 15)
                break;
            mx = _mm256_max_pd(mx, _mm256_max_pd(a, b));
        }
        _mm256_storeu_pd(m4, mx);
        for (int r = 0; r < 4; r++)
            if (m4[r] > *hi)
                *hi = m4[r];
        return i;
    }
    #endif
    static inline int FL_FLIGHT_BLOCK(const double* p, double on, double off, int* all_low) {
        /* 1 if p[0:8] is all flight (<= on, > -inf); *all_low = 1 if all are also < off */
    #ifdef __SSE2__
        const __m128d von = _mm_set1_pd(on), voff = _mm_set1_pd(off);
        const __m128d vn = _mm_set1_pd(-INFINITY);
        __m128d v0 = _mm_loadu_pd(p), v1 = _mm_loadu_pd(p + 2);
        __m128d v2 = _mm_loadu_pd(p + 4), v3 = _mm_loadu_pd(p + 6);
        __m128d fin = _mm_and_pd(_mm_and_pd(_mm_cmpgt_pd(v0, vn), _mm_cmpgt_pd(v1, vn)),
                                 _mm_and_pd(_mm_cmpgt_pd(v2, vn), _mm_cmpgt_pd(v3, vn)));
        __m128d low = _mm_and_pd(_mm_and_pd(_mm_cmplt_pd(v0, voff), _mm_cmplt_pd(v1, voff)),
                                 _mm_and_pd(_mm_cmplt_pd(v2, voff), _mm_cmplt_pd(v3, voff)));
        if (_mm_movemask_pd(_mm_and_pd(fin, low)) == 3 && off <= on) {
            *all_low = 1;
            return 1;
        }
        __m128d le = _mm_and_pd(_mm_and_pd(_mm_cmple_pd(v0, von), _mm_cmple_pd(v1, von)),
                                _mm_and_pd(_mm_cmple_pd(v2, von), _mm_cmple_pd(v3, von)));
        *all_low = _mm_movemask_pd(low) == 3;
        return _mm_movemask_pd(_mm_and_pd(fin, le)) == 3;
    #else
        int ok = 1, lw = 1;
        for (int j = 0; j < 8; j++) {
            ok &= p[j] <= on && p[j] > -INFINITY;
            lw &= p[j] < off;
        }
        *all_low = lw;
        return ok;
    #endif
    }
    static inline Py_ssize_t FL_FLIGHT8(const double* p, Py_ssize_t i, Py_ssize_t n,
                                        double on, double off, Py_ssize_t* last_low) {
        int all_low;
    #ifdef FL_AVX2
        if (FL_HAVE_AVX2())
            return FL_FLIGHT8_AVX2(p, i, n, on, off, last_low);
    #endif
        for (; i + 8 <= n; i += 8) {
            if (i + FL_AHEAD < n)
                FL_PREFETCH(p + i + FL_AHEAD);
            if (!FL_FLIGHT_BLOCK(p + i, on, off, &all_low))
                break;
            if (all_low) {
                *last_low = i + 7;
            } else {
                for (Py_ssize_t j = i; j < i + 8; j++)
                    if (p[j] < off)
                        *last_low = j;
            }
        }
        return i;
    }
    static inline Py_ssize_t FL_STANCE8(const double* p, Py_ssize_t i, Py_ssize_t n,
                                        double lo, double* hi) {
    #ifdef FL_AVX2
        if (FL_HAVE_AVX2())
            return FL_STANCE8_AVX2(p, i, n, lo, hi);
    #endif
    #ifdef __SSE2__
        const __m128d vlo = _mm_set1_pd(lo), vinf = _mm_set1_pd(INFINITY);
        __m128d mx = _mm_set1_pd(*hi);
        double m2[2];
        for (; i + 8 <= n; i += 8) {
            if (i + FL_AHEAD < n)
                FL_PREFETCH(p + i + FL_AHEAD);
            __m128d v0 = _mm_loadu_pd(p + i), v1 = _mm_loadu_pd(p + i + 2);
            __m128d v2 = _mm_loadu_pd(p + i + 4), v3 = _mm_loadu_pd(p + i + 6);
            __m128d ok = _mm_and_pd(
                _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(v0, vlo), _mm_cmplt_pd(v0, vinf)),
                           _mm_and_pd(_mm_cmpge_pd(v1, vlo), _mm_cmplt_pd(v1, vinf))),
                _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(v2, vlo), _mm_cmplt_pd(v2, vinf)),
                           _mm_and_pd(_mm_cmpge_pd(v3, vlo), _mm_cmplt_pd(v3, vinf))));
            if (_mm_movemask_pd(ok) != 3)
                break;
            mx = _mm_max_pd(mx, _mm_max_pd(_mm_max_pd(v0, v1), _mm_max_pd(v2, v3)));
        }
        _mm_storeu_pd(m2, mx);
        for (int r = 0; r < 2; r++)
            if (m2[r] > *hi)
                *hi = m2[r];
    #else
        for (; i + 8 <= n; i += 8) {
            int ok = 1;
            for (int j = 0; j < 8; j++)
                ok &= p[i + j] >= lo && p[i + j] < INFINITY;
            if (!ok)
                break;
            for (int j = 0; j < 8; j++)
                if (p[i + j] > *hi)
                    *hi = p[i + j];
        }
    #endif
        return i;
    }
    """
    void FL_PREFETCH(const double* p) noexcept nogil
    Py_ssize_t FL_FLIGHT8(const double* p, Py_ssize_t i, Py_ssize_t n, double on, double off,
                          Py_ssize_t* last_low) noexcept nogil
    Py_ssize_t FL_STANCE8(const double* p, Py_ssize_t i, Py_ssize_t n, double lo,
                          double* hi) noexcept nogil
    Py_ssize_t FL_ACC_BELOW(const double* p, Py_ssize_t len, double base, double thr,
                            double* s4, double* q4) noexcept nogil
    void FL_SUM_BELOW(const double* p, Py_ssize_t len, double cut, double* sum,
                      Py_ssize_t* count) noexcept nogil
    int FL_USE_AVX2(int on) noexcept nogil


def use_avx2(bint on):
    """Run the detector's block loops as AVX2 (``on``, when the CPU has it) or SSE2 code;
    returns True when AVX2 is used. Both give identical results; the tests compare them."""
    return bool(FL_USE_AVX2(on))

# How many stances ahead the metrics kernel asks for data: the memory latency of one
# stance's cache lines is about the time the kernel spends on two or three stances.
cdef enum:
    STANCES_AHEAD = 3

# Phases of the detector.
cdef enum:
    FLIGHT = 0
    STANCE = 1
    TENTATIVE = 2

# Reason codes (forcelab.analysis.detection.REASONS).
cdef enum:
    R_OK = 0
    R_PARTIAL_START = 1
    R_PARTIAL_END = 2
    R_GAP = 3

# Loading-rate method codes (forcelab.analysis.metrics.LOADING_RATE_METHODS).
cdef enum:
    LR_NONE = 0
    LR_IMPACT = 1
    LR_SURROGATE = 2


cdef inline double _max3(double a, double b, double c) noexcept nogil:
    cdef double m = a
    if b > m:
        m = b
    if c > m:
        m = c
    return m


cdef inline double _capped(double term, double cap_frac, double level) noexcept nogil:
    """The noise term of a threshold, at most cap_frac x level once a level is known."""
    cdef double cap = cap_frac * level
    if level > 0.0 and term > cap:
        return cap
    return term


cdef inline double _dmin(double a, double b) noexcept nogil:
    return a if a < b else b


cdef inline double _dmax(double a, double b) noexcept nogil:
    return a if a > b else b


cdef inline double _min8(const double* p) noexcept nogil:
    return _dmin(_dmin(_dmin(p[0], p[1]), _dmin(p[2], p[3])),
                 _dmin(_dmin(p[4], p[5]), _dmin(p[6], p[7])))


cdef inline double _max8(const double* p) noexcept nogil:
    return _dmax(_dmax(_dmax(p[0], p[1]), _dmax(p[2], p[3])),
                 _dmax(_dmax(p[4], p[5]), _dmax(p[6], p[7])))


cdef inline bint _bad(double v) noexcept nogil:
    """True for NaN and +-inf: samples that were not measured (a gap)."""
    return not (v - v == 0.0)


cdef inline bint _low(double u, double thr) noexcept nogil:
    """A finite flight sample below the threshold (counted in the baseline statistics)."""
    return u < thr and u > -INFINITY


cdef inline Py_ssize_t _scan_unloaded(const double* x, Py_ssize_t i, Py_ssize_t end,
                                      double on_thr, double off_thr,
                                      Py_ssize_t* last_low) noexcept nogil:
    """Step over the flight samples ``x[i:end]`` (at or below on_thr, not missing): the index of
    the first that is not one; ``last_low[0]`` = the last index below off_thr (else unchanged)."""
    cdef double v
    while i < end:
        v = x[i]
        if not (v <= on_thr and v > -INFINITY):
            break
        if v < off_thr:
            last_low[0] = i
        i += 1
    return i


cdef inline Py_ssize_t _scan_loaded(const double* x, Py_ssize_t i, Py_ssize_t end, double st_off,
                                    double* st_max) noexcept nogil:
    """Step over the stance samples ``x[i:end]`` (at or above st_off, finite): the index of the
    first that is not one; ``st_max[0]`` rises to their maximum."""
    cdef double v
    while i < end:
        v = x[i]
        if not (v >= st_off and v < INFINITY):
            break
        if v > st_max[0]:
            st_max[0] = v
        i += 1
    return i


cdef bint _refine_one(const double* x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t e, double base,
                      double threshold, Py_ssize_t lower, Py_ssize_t window, bint final,
                      Py_ssize_t* o_s, Py_ssize_t* o_e, double* o_l) noexcept nogil:
    """One stance of :func:`refine_edges` (indices into ``x[:n]``); returns the pending flag."""
    cdef Py_ssize_t j, lo, hi, cnt
    cdef double lv, v, acc, cut
    o_s[0] = s
    o_e[0] = e
    lo = s - window
    if lo < lower:
        lo = lower
    if lo < 0:
        lo = 0
    cut = base + 0.5 * threshold
    # mean of the flight samples below `cut` (a missing sample or one above `cut` is left out)
    FL_SUM_BELOW(&x[lo], s - lo if s > lo else 0, cut, &acc, &cnt)
    lv = (acc / cnt if cnt >= 3 else base) + threshold
    o_l[0] = lv
    if not (lv == lv) or e <= s:
        return 0
    if x[s] >= lv:
        j = s - 1
        while j >= lo:
            v = x[j]
            if not (v >= lv and v < INFINITY):
                break
            j -= 1
        if j >= lo and x[j] < lv and x[j] > -INFINITY:
            o_s[0] = j + 1
    else:
        j = s
        while j < e and x[j] < lv:
            j += 1
        if j >= e:
            return 0  # the stance never reaches the level: keep the detected edges
        o_s[0] = j
    if x[e - 1] >= lv:
        hi = e + window
        j = e
        while j < hi and j < n:
            v = x[j]
            if not (v >= lv and v < INFINITY):
                break
            j += 1
        if j < hi and j < n:
            if x[j] < lv and x[j] > -INFINITY:
                o_e[0] = j
        elif j >= n and j < hi and not final:
            return 1
    else:
        j = e - 1
        while j > o_s[0] and x[j] < lv:
            j -= 1
        o_e[0] = j + 1
    return 0


cdef struct MetricParams:
    double rate_hz, impact_window_frac, impact_prominence_frac, surrogate_frac
    double double_hump_frac, trough_lo_frac, trough_hi_frac, first_hi_frac, second_lo_frac


cdef struct MetricOut:
    double* peak
    double* peak_i
    double* mid
    double* mid_i
    double* imp
    double* imp_i
    double* first
    double* trough
    double* second
    double* valr
    double* vilr
    double* impulse
    cnp.int8_t* method
    cnp.int8_t* pattern


#: stance_metrics' output columns (float64, then the two int8 codes)
METRIC_COLUMNS = ("peak_force_n", "peak_idx", "midstance_peak_n", "midstance_idx",
                  "impact_peak_n", "impact_idx", "first_peak_n", "trough_n", "second_peak_n",
                  "valr_n_s", "vilr_n_s", "impulse_ns", "loading_rate_method", "peak_pattern")


cdef dict _metric_arrays(Py_ssize_t m, MetricOut* o):
    """Uninitialised output columns for m stances (:func:`_measure` writes every field of a
    stance it measures) and ``o`` pointing at them."""
    cdef dict arrays = {name: np.empty(m, dtype=np.float64) for name in METRIC_COLUMNS[:12]}
    arrays["loading_rate_method"] = np.empty(m, dtype=np.int8)
    arrays["peak_pattern"] = np.empty(m, dtype=np.int8)
    cdef double* ptr[12]
    cdef cnp.int8_t* codes[2]
    cdef double[::1] col
    cdef cnp.int8_t[::1] code
    cdef int i
    for i in range(12):
        col = arrays[METRIC_COLUMNS[i]]
        ptr[i] = &col[0] if m > 0 else NULL
    for i in range(2):
        code = arrays[METRIC_COLUMNS[12 + i]]
        codes[i] = &code[0] if m > 0 else NULL
    o.peak, o.peak_i, o.mid, o.mid_i = ptr[0], ptr[1], ptr[2], ptr[3]
    o.imp, o.imp_i, o.first, o.trough = ptr[4], ptr[5], ptr[6], ptr[7]
    o.second, o.valr, o.vilr, o.impulse = ptr[8], ptr[9], ptr[10], ptr[11]
    o.method, o.pattern = codes[0], codes[1]
    return arrays


cdef struct RunOut:
    # Detector._run's output columns (row k per stance) and what it does with each stance
    cnp.int64_t* start
    cnp.int64_t* end
    cnp.int8_t* reason
    double* base
    double* peak
    cnp.int64_t* rs
    cnp.int64_t* re
    double* lv
    cnp.int8_t* done
    double* contact
    double* toe_off
    bint refine, measuring, final
    double threshold
    Py_ssize_t window
    const double* px
    Py_ssize_t n
    MetricParams mq
    MetricOut mo


cdef class Measure:
    """The metric definitions' parameters (see :func:`stance_metrics`), for
    ``Detector.feed_edges``, which then measures each stance as it finds it."""

    cdef MetricParams q

    def __init__(self, double rate_hz, double impact_window_frac, double impact_prominence_frac,
                 double surrogate_frac, double double_hump_frac, double trough_lo_frac,
                 double trough_hi_frac, double first_hi_frac, double second_lo_frac):
        self.q = MetricParams(rate_hz, impact_window_frac, impact_prominence_frac,
                              surrogate_frac, double_hump_frac, trough_lo_frac, trough_hi_frac,
                              first_hi_frac, second_lo_frac)


cdef inline void _edges_at(const double* x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t e,
                           double lv, Py_ssize_t index_offset, double* o_s,
                           double* o_e) noexcept nogil:
    """Stance [s, e) of :func:`contact_edges` in ``x[0:n]``."""
    cdef double xa, xb
    o_s[0] = <double>(s + index_offset)
    o_e[0] = <double>(e + index_offset)
    if n == 0:
        return
    if s >= 1 and s - 1 < n:
        xa = x[s - 1]
        xb = x[s if s < n else n - 1]
        if not _bad(xa) and xa < lv and xb >= lv:
            o_s[0] = <double>(s + index_offset - 1) + (lv - xa) / (xb - xa)
    if e < n and e >= 0:
        xa = x[e - 1 if e >= 1 else 0]
        xb = x[e]
        if not _bad(xb) and xb < lv and xa >= lv:
            o_e[0] = <double>(e + index_offset - 1) + (xa - lv) / (xa - xb)


cdef class Detector:
    """Resumable stance detector; see forcelab.analysis.detection for the definitions."""

    cdef public double on_frac, off_frac, k_on, k_off, min_on_n, min_off_n
    cdef public double level_alpha, noise_alpha, cap_on, cap_off
    cdef public Py_ssize_t min_contact, min_flight, guard, min_stats
    cdef public double base, noise, level, on_thr, off_thr
    cdef public int phase, edge_reason, st_reason, committed, saw_missing
    cdef public Py_ssize_t fl_start, st_start, t_end, pos, fn, last_low, prev_end
    cdef public double cbase, cnoise, st_off, st_max
    cdef public object tail
    cdef double[::1] _tail
    # flight statistics: four partial sums by global sample index mod 4 (breaks the add
    # latency chain; forcelab.analysis.reference sums the same way)
    cdef double fs4[4]
    cdef double fss4[4]

    def __init__(self, double on_frac, double off_frac, double k_on, double k_off,
                 double min_on_n, double min_off_n, double level_alpha, double noise_alpha,
                 Py_ssize_t min_contact, Py_ssize_t min_flight, Py_ssize_t guard,
                 Py_ssize_t min_stats, double base0, double noise0, double level0,
                 double cap_on, double cap_off):
        self.on_frac = on_frac
        self.off_frac = off_frac
        self.k_on = k_on
        self.k_off = k_off
        self.min_on_n = min_on_n
        self.min_off_n = min_off_n
        self.level_alpha = level_alpha
        self.noise_alpha = noise_alpha
        self.cap_on = cap_on
        self.cap_off = cap_off
        self.min_contact = min_contact if min_contact > 1 else 1
        self.min_flight = min_flight if min_flight > 1 else 1
        self.guard = guard if guard > 0 else 0
        self.min_stats = min_stats if min_stats > 1 else 1
        self.base = base0
        self.noise = noise0
        self.level = level0
        self.phase = FLIGHT
        self.edge_reason = R_PARTIAL_START
        self.st_reason = R_OK
        self.committed = 0
        self.saw_missing = 0
        self.fl_start = 0
        self.last_low = -1
        self.prev_end = 0
        self.st_start = 0
        self.t_end = 0
        self.pos = 0
        self._reset_stats()
        self.cbase = base0
        self.cnoise = noise0
        self.st_off = 0.0
        self.st_max = 0.0
        # the last `guard` samples fed: flight statistics lag the input by `guard` samples so
        # that the rising edge before a contact never enters the baseline
        self.tail = np.full(self.guard if self.guard > 0 else 1, np.nan)
        self._tail = self.tail
        self._thresholds()

    cdef inline void _reset_stats(self) noexcept nogil:
        cdef int r
        for r in range(4):
            self.fs4[r] = 0.0
            self.fss4[r] = 0.0
        self.fn = 0

    cdef inline void _thresholds(self) noexcept nogil:
        self.on_thr = self.base + _max3(self.on_frac * self.level,
                                        _capped(self.k_on * self.noise, self.cap_on, self.level),
                                        self.min_on_n)
        self.off_thr = self.base + _max3(self.off_frac * self.level,
                                         _capped(self.k_off * self.noise, self.cap_off, self.level),
                                         self.min_off_n)

    cdef inline Py_ssize_t _add_low(self, double u, Py_ssize_t a) noexcept nogil:
        """Add the flight sample ``u`` (global index ``a``) to lane ``a & 3`` of the baseline
        sums when it lies below off_thr; 1 if it was added, else 0."""
        cdef double d
        if not _low(u, self.off_thr):
            return 0
        d = u - self.base
        self.fs4[a & 3] += d
        self.fss4[a & 3] += d * d
        return 1

    cdef void _accumulate(self, const double[::1] x, Py_ssize_t off, Py_ssize_t a,
                          Py_ssize_t b) noexcept nogil:
        """Add flight samples with global index in [a, b) that lie below off_thr."""
        cdef Py_ssize_t j, g = self.guard
        cdef Py_ssize_t c = 0
        if a < self.fl_start + g:
            a = self.fl_start + g
        # samples before this chunk come from the tail of the previous one
        while a < b and a < off:
            c += self._add_low(self._tail[g - (off - a)], a)
            a += 1
        while a < b and (a & 3) != 0:
            c += self._add_low(x[a - off], a)
            a += 1
        # aligned blocks of four: branch-free (a rejected sample adds exactly 0.0)
        if a + 4 <= b:
            j = (b - a) & ~(<Py_ssize_t>3)
            c += FL_ACC_BELOW(&x[a - off], j, self.base, self.off_thr, self.fs4, self.fss4)
            a += j
        while a < b:
            c += self._add_low(x[a - off], a)
            a += 1
        self.fn += c

    cdef inline void _gap_at(self, Py_ssize_t t) noexcept nogil:
        """Sample ``t`` is missing: the flight goes on after it, and the stance that follows
        starts at a gap."""
        self.saw_missing = 1
        self.edge_reason = R_GAP
        self.last_low = t

    cdef inline void _candidate(self) noexcept nogil:
        cdef double mean, var, fs, fss
        if self.fn >= self.min_stats:
            fs = (self.fs4[0] + self.fs4[1]) + (self.fs4[2] + self.fs4[3])
            fss = (self.fss4[0] + self.fss4[1]) + (self.fss4[2] + self.fss4[3])
            mean = fs / self.fn
            var = fss / self.fn - mean * mean
            if var < 0.0:
                var = 0.0
            self.cbase = self.base + mean
            self.cnoise = self.noise + self.noise_alpha * (sqrt(var) - self.noise)
        else:
            self.cbase = self.base
            self.cnoise = self.noise
        self.st_off = self.cbase + _max3(self.off_frac * self.level,
                                         _capped(self.k_off * self.cnoise, self.cap_off, self.level),
                                         self.min_off_n)

    cdef inline void _commit(self) noexcept nogil:
        self.base = self.cbase
        self.noise = self.cnoise
        self._reset_stats()
        self.committed = 1
        self._thresholds()

    cdef inline void _learn(self, int reason) noexcept nogil:
        if reason == R_OK:
            self.level = self.level + self.level_alpha * ((self.st_max - self.cbase) - self.level)
            self._thresholds()

    cdef inline cnp.int8_t _edges(self, const double* x, Py_ssize_t n, Py_ssize_t off,
                                  Py_ssize_t s, Py_ssize_t e, double base, double threshold,
                                  Py_ssize_t window, bint final, cnp.int64_t* o_s,
                                  cnp.int64_t* o_e, double* o_l) noexcept nogil:
        """Refine stance [s, e) (global indices) in the chunk ``x[:n]`` starting at global
        index ``off`` (``final``: no samples follow it); 1 when done, 0 when it needs samples
        outside the chunk."""
        cdef Py_ssize_t lo = s - window, ns, ne
        cdef double lv
        if lo < self.prev_end:
            lo = self.prev_end
        if lo < 0:
            lo = 0
        if lo < off or _refine_one(x, n, s - off, e - off, base, threshold,
                                   self.prev_end - off, window, final, &ns, &ne, &lv):
            o_s[0] = s
            o_e[0] = e
            o_l[0] = NAN
            return 0
        o_s[0] = ns + off
        o_e[0] = ne + off
        o_l[0] = lv
        return 1

    @property
    def keep_from(self):
        """First global sample index a streaming caller must still hold for metrics (one
        sample before a possible stance, for the interpolated contact time)."""
        if self.phase == FLIGHT:
            return max(0, min(self.pos, self.last_low))
        return max(0, self.st_start - 1)

    def feed(self, const double[::1] x, bint final=False):
        """Process the next samples; return arrays (start, end, reason, baseline_n, off_n).

        Indices are global (counted from the first sample ever fed). With ``final``, ``x`` is
        the last chunk: the stance still open at its end is closed as :meth:`finish` does and
        comes last.
        """
        return self._run(x, False, 0.0, 0, None, final)

    def feed_edges(self, const double[::1] x, double threshold, Py_ssize_t window,
                   Measure measure=None, bint final=False):
        """:meth:`feed`, and each stance's edges refined as :func:`refine_edges` does.

        The refinement runs as each stance is emitted, while its samples are still in the
        cache. Returns the five arrays of :meth:`feed` followed by (start, end, level, done):
        ``done[k]`` is 0 where the refinement needs samples outside ``x`` (the caller refines
        that stance with :func:`refine_edges`; its start, end and level are then the detected
        ones and NaN). ``lower`` is the detected end of the stance before (0 for the first).
        With ``measure``, each stance refined here (``done``) is also measured at once, as
        :func:`stance_metrics` does with ``measure``'s parameters, and its contact and toe-off
        placed as :func:`contact_edges` does (NaN where a neighbouring sample lies outside
        ``x``): a dict of these columns comes last (rows of stances not done are undefined).
        With ``final`` (``x`` is the last chunk), the edges are refined and placed as
        ``final=True`` does, and the stance still open is closed as :meth:`finish` does: fed
        in one piece from the first sample, every stance is done.
        """
        return self._run(x, True, threshold, window, measure, final)

    cdef void _emit(self, RunOut* o, Py_ssize_t k, Py_ssize_t s, Py_ssize_t e,
                    int reason) noexcept nogil:
        """Row k of the output: stance [s, e) (global indices), refined and measured when the
        run does so."""
        cdef Py_ssize_t off = self.pos
        o.start[k] = s
        o.end[k] = e
        o.reason[k] = reason
        o.base[k] = self.cbase
        o.peak[k] = self.st_off
        if o.refine:
            o.done[k] = self._edges(o.px, o.n, off, s, e, self.cbase, o.threshold, o.window,
                                    o.final, &o.rs[k], &o.re[k], &o.lv[k])
            if o.measuring and o.done[k]:
                # measured while its samples are still in the cache
                _measure(o.px + (o.rs[k] - off), o.re[k] - o.rs[k], self.cbase, &o.mq, &o.mo, k)
                if (o.rs[k] == off and off > 0) or (o.re[k] >= off + o.n and not o.final):
                    o.contact[k] = NAN  # a neighbour lies outside x
                    o.toe_off[k] = NAN
                else:
                    _edges_at(o.px, o.n, o.rs[k] - off, o.re[k] - off, o.lv[k], off,
                              &o.contact[k], &o.toe_off[k])
        self.prev_end = e

    cdef int _close(self, Py_ssize_t pos, Py_ssize_t* s, Py_ssize_t* e) noexcept nogil:
        """The data end at global index ``pos``: the reason code of the stance still open,
        [s, e), or -1 when there is none (a loaded contact shorter than min_contact is no
        stance). The detector is in flight afterwards; a tentative end is learnt from."""
        cdef int reason = -1
        if self.phase == STANCE:
            if pos - self.st_start >= self.min_contact:
                s[0] = self.st_start
                e[0] = pos
                reason = self.st_reason if self.st_reason != R_OK else R_PARTIAL_END
        elif self.phase == TENTATIVE:
            s[0] = self.st_start
            e[0] = self.t_end
            reason = self.st_reason
            self._learn(reason)
        self.phase = FLIGHT
        return reason

    cdef tuple _run(self, const double[::1] x, bint refine, double threshold,
                    Py_ssize_t window, Measure measure, bint final):
        cdef Py_ssize_t n = x.shape[0]
        cdef Py_ssize_t cap = n // self.min_contact + 4
        start_a = np.empty(cap, dtype=np.int64)
        end_a = np.empty(cap, dtype=np.int64)
        reason_a = np.empty(cap, dtype=np.int8)
        base_a = np.empty(cap, dtype=np.float64)
        peak_a = np.empty(cap, dtype=np.float64)
        cdef cnp.int64_t[::1] o_start = start_a
        cdef cnp.int64_t[::1] o_end = end_a
        cdef cnp.int8_t[::1] o_reason = reason_a
        cdef double[::1] o_base = base_a
        cdef double[::1] o_peak = peak_a
        cdef Py_ssize_t rcap = cap if refine else 0
        rs_a = np.empty(rcap, dtype=np.int64)
        re_a = np.empty(rcap, dtype=np.int64)
        lv_a = np.empty(rcap, dtype=np.float64)
        done_a = np.empty(rcap, dtype=np.int8)
        cdef cnp.int64_t[::1] o_rs = rs_a
        cdef cnp.int64_t[::1] o_re = re_a
        cdef double[::1] o_lv = lv_a
        cdef cnp.int8_t[::1] o_done = done_a
        cdef double[::1] o_contact
        cdef double[::1] o_toe_off
        cdef RunOut o
        o.start, o.end, o.reason = &o_start[0], &o_end[0], &o_reason[0]
        o.base, o.peak = &o_base[0], &o_peak[0]
        o.refine, o.measuring, o.final = refine, measure is not None, final
        o.threshold, o.window = threshold, window
        o.px = &x[0] if n > 0 else NULL
        o.n = n
        if refine:
            o.rs, o.re, o.lv, o.done = &o_rs[0], &o_re[0], &o_lv[0], &o_done[0]
        if o.measuring:  # only then: a streaming caller feeds every block without measuring
            o.mq = measure.q
            measured = _metric_arrays(cap, &o.mo)
            measured["contact_f"] = o_contact = np.empty(cap, dtype=np.float64)
            measured["toe_off_f"] = o_toe_off = np.empty(cap, dtype=np.float64)
            o.contact, o.toe_off = &o_contact[0], &o_toe_off[0]
        cdef const double* px = o.px
        cdef Py_ssize_t k = 0
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t off = self.pos
        cdef Py_ssize_t i0, length, last_low, j, s, e
        cdef double v
        cdef double on_thr, off_thr, st_off, st_max
        cdef int reason
        cdef Py_ssize_t g = self.guard
        with nogil:
            while i < n:
                if self.phase == FLIGHT:
                    on_thr = self.on_thr
                    off_thr = self.off_thr
                    last_low = -1
                    i0 = i
                    # blocks of 8 while no sample reaches `on` (the usual flight)
                    i = FL_FLIGHT8(px, i, n, on_thr, off_thr, &last_low)
                    i = _scan_unloaded(px, i, n, on_thr, off_thr, &last_low)
                    if last_low >= 0:
                        self.last_low = off + last_low
                        self.edge_reason = R_OK
                    self._accumulate(x, off, off + i0 - g, off + i - g)
                    if i >= n:
                        break
                    v = x[i]
                    if _bad(v):
                        self._gap_at(off + i)
                        i += 1
                        continue
                    # the contact began after the last unloaded sample (below off)
                    self.st_start = self.last_low + 1
                    self.st_reason = self.edge_reason
                    self.edge_reason = R_OK
                    self.st_max = v
                    self.committed = 0
                    self._candidate()
                    self.phase = STANCE
                    if off + i - self.st_start + 1 >= self.min_contact:
                        self._commit()
                    i += 1
                elif self.phase == STANCE:
                    st_off = self.st_off
                    st_max = self.st_max
                    if not self.committed:
                        # until the contact is long enough to be a stance
                        j = self.st_start + self.min_contact - off
                        i = FL_STANCE8(px, i, j if j < n else n, st_off, &st_max)
                        i = _scan_loaded(px, i, j if j < n else n, st_off, &st_max)
                        if i >= j:
                            self._commit()
                    if self.committed:
                        # blocks of 8 while every sample stays loaded (the usual stance)
                        i = FL_STANCE8(px, i, n, st_off, &st_max)
                        i = _scan_loaded(px, i, n, st_off, &st_max)
                    self.st_max = st_max
                    if i >= n:
                        break
                    v = x[i]
                    length = off + i - self.st_start
                    if _bad(v):
                        if length >= self.min_contact:
                            self._emit(&o, k, self.st_start, off + i, R_GAP)
                            k += 1
                            self.fl_start = off + i
                        self.phase = FLIGHT
                        self._gap_at(off + i)
                        i += 1
                        continue
                    if length < self.min_contact:
                        # a blip: not a stance; the flight goes on with this sample
                        self.phase = FLIGHT
                        continue
                    self.phase = TENTATIVE
                    self.t_end = off + i
                    self.fl_start = self.t_end
                    self._reset_stats()
                else:
                    on_thr = self.on_thr
                    off_thr = self.off_thr
                    last_low = -1
                    i0 = i
                    j = self.t_end + self.min_flight - off  # the flight confirms the end here
                    if j > n:
                        j = n
                    i = FL_FLIGHT8(px, i, j, on_thr, off_thr, &last_low)
                    i = _scan_unloaded(px, i, j, on_thr, off_thr, &last_low)
                    if last_low >= 0:
                        self.last_low = off + last_low
                    self._accumulate(x, off, off + i0 - g, off + i - g)
                    if i >= n:
                        break
                    v = x[i]
                    if _bad(v) or v <= on_thr:
                        # confirmed end (the flight lasted min_flight samples, or a gap began)
                        self._emit(&o, k, self.st_start, self.t_end, self.st_reason)
                        k += 1
                        self._learn(self.st_reason)
                        self.phase = FLIGHT
                        if _bad(v):
                            self._gap_at(off + i)
                            i += 1
                        continue
                    # loaded again within min_flight: the same stance goes on
                    self.phase = STANCE
                    self._reset_stats()
                    if v > self.st_max:
                        self.st_max = v
                    i += 1
            if final:
                reason = self._close(off + n, &s, &e)
                if reason >= 0:
                    self._emit(&o, k, s, e, reason)
                    k += 1
            self.pos = off + n
        if g > 0:
            if n >= g:
                self.tail[:] = np.asarray(x[n - g:])
            else:
                self.tail[:g - n] = self.tail[n:].copy()
                self.tail[g - n:] = np.asarray(x)
        out = (start_a, end_a, reason_a, base_a, peak_a)
        if refine:
            out += (rs_a, re_a, lv_a, done_a)
        # copies of the rows found: the columns sized for the most stances x could hold
        # would stay allocated as long as the caller keeps a result
        out = tuple([a[:k].copy() for a in out])
        if o.measuring:
            out += ({c: a[:k].copy() for c, a in measured.items()},)
        return out

    def finish(self):
        """Close the data: a stance still loaded is partial, a tentative end is confirmed."""
        cdef Py_ssize_t s = 0, e = 0
        cdef int reason = self._close(self.pos, &s, &e)
        if reason < 0:
            return (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                    np.empty(0, dtype=np.int8), np.empty(0, dtype=np.float64),
                    np.empty(0, dtype=np.float64))
        self.prev_end = e
        return (np.array([s], dtype=np.int64), np.array([e], dtype=np.int64),
                np.array([reason], dtype=np.int8), np.array([self.cbase]),
                np.array([self.st_off]))


cdef void _half_max(const double* p, Py_ssize_t lo, Py_ssize_t hi, double b, double* best,
                    Py_ssize_t* best_i, double* s0, double* s1, double* s2,
                    double* s3) noexcept nogil:
    """First index and value of max(p[j] - b) for j in [lo, hi); adds p[lo:hi] to the sums.

    Blocks of 8 give their maximum; only the first block holding the overall maximum is
    searched for its first occurrence (same index as np.argmax).
    """
    cdef Py_ssize_t j = lo, bi = -1, ti = -1
    cdef double m = best[0], v, a0 = s0[0], a1 = s1[0], a2 = s2[0], a3 = s3[0]
    while j + 8 <= hi:
        a0 += p[j] + p[j + 4]
        a1 += p[j + 1] + p[j + 5]
        a2 += p[j + 2] + p[j + 6]
        a3 += p[j + 3] + p[j + 7]
        v = _max8(&p[j]) - b
        if v > m:
            m = v
            bi = j
        j += 8
    while j < hi:
        a0 += p[j]
        v = p[j] - b
        if v > m:
            m = v
            ti = j
        j += 1
    if ti >= 0:
        best_i[0] = ti
    elif bi >= 0:
        j = bi
        while p[j] - b != m:
            j += 1
        best_i[0] = j
    best[0] = m
    s0[0] = a0
    s1[0] = a1
    s2[0] = a2
    s3[0] = a3


cdef void _select(double* a, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Reorder ``a[0:n]`` (no NaN) so that ``a[k]`` is its k-th smallest value, none larger
    before it and none smaller after it (quickselect, pivot the median of three)."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j, mid
    cdef double pivot, t
    while hi > lo:
        mid = lo + (hi - lo) // 2
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


cdef double _ranked(double* a, Py_ssize_t n, Py_ssize_t k, double* next_up) noexcept nogil:
    """The k-th smallest value of ``a[0:n]`` (reordered) and, in ``next_up``, the (k+1)-th
    (the k-th when k is the last)."""
    cdef Py_ssize_t j
    cdef double v, nxt
    _select(a, n, k)
    v = a[k]
    nxt = a[k + 1] if k + 1 < n else v
    for j in range(k + 2, n):
        if a[j] < nxt:
            nxt = a[j]
    next_up[0] = nxt
    return v


cdef double _median_of(double* a, Py_ssize_t n) noexcept nogil:
    """Median of ``a[0:n]`` (n > 0, reordered): the middle value, or the mean of the two
    middle values ``(a + b) / 2``."""
    cdef Py_ssize_t h = n // 2, j
    cdef double below
    _select(a, n, h)
    if n % 2:
        return a[h]
    below = a[0]
    for j in range(1, h):
        if a[j] > below:
            below = a[j]
    return (below + a[h]) / 2.0


cdef double _percentile(double* a, Py_ssize_t n, double frac) noexcept nogil:
    """The ``frac`` quantile of ``a[0:n]`` (reordered), linear between the ranked values at
    ``pos = frac (n - 1)``: ``a + (b - a) (pos - floor(pos))``."""
    cdef double pos = frac * (n - 1)
    cdef Py_ssize_t k = <Py_ssize_t>floor(pos)
    cdef double b
    cdef double v = _ranked(a, n, k, &b)
    return v + (b - v) * (pos - k)


def initial_window(const double[::1] window, double min_level_n):
    """(baseline_n, noise_n, level_n, flight_noise_n) of the initial window; see
    forcelab.analysis.detection.initial_window (the definitions) and
    forcelab.analysis.reference.initial_window_reference (the NumPy form). Samples that are
    NaN or +-inf are left out; sums run in sample order."""
    cdef Py_ssize_t n_in = window.shape[0], n = 0, m = 0, j, c
    cdef double lo = 0.0, hi = 0.0, span = 0.0, cut, base = 0.0, ss, d, noise = 0.0
    cdef double fnoise = 0.0
    cdef bint return_empty = False
    cdef double[::1] vals = np.empty(n_in, dtype=np.float64)
    cdef double[::1] work = np.empty(n_in, dtype=np.float64)
    cdef double[::1] diffs = np.empty(n_in, dtype=np.float64)
    with nogil:
        for j in range(n_in):
            if not _bad(window[j]):
                vals[n] = window[j]
                n += 1
        if n == 0:
            return_empty = True
        else:
            memcpy(&work[0], &vals[0], n * sizeof(double))
            lo = _percentile(&work[0], n, 0.02)
            hi = _percentile(&work[0], n, 0.98)
            span = hi - lo
            # the flight samples: all of them when the window holds no stance
            cut = lo + 0.1 * span if span >= min_level_n else INFINITY
            base = 0.0
            c = 0
            for j in range(n):
                if vals[j] <= cut:
                    base += vals[j]
                    c += 1
            base = base / c
            ss = 0.0
            for j in range(n):
                if vals[j] <= cut:
                    d = vals[j] - base
                    ss += d * d
            noise = sqrt(ss / c)
            # robust SD of the differences between neighbouring flight samples
            for j in range(n - 1):
                if vals[j] <= cut and vals[j + 1] <= cut:
                    diffs[m] = vals[j + 1] - vals[j]
                    m += 1
            fnoise = 0.0
            if n >= 3 and m > 0:
                d = _median_of(&diffs[0], m)
                for j in range(m):
                    diffs[j] = abs(diffs[j] - d)
                fnoise = 1.4826 * _median_of(&diffs[0], m) / sqrt(2.0)
    if return_empty:
        return 0.0, 0.0, 0.0, 0.0
    return base, noise, (hi - base if span >= min_level_n and hi > base else 0.0), fnoise


def count_infinite(x):
    """1 if any sample of the float64 array is +-inf, else 0 (fast pre-check; inf -> NaN)."""
    cdef const cnp.uint64_t[::1] u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    cdef Py_ssize_t i, n = u.shape[0]
    cdef cnp.uint64_t hit = 0
    with nogil:
        for i in range(n):
            hit |= (u[i] & 0x7FFFFFFFFFFFFFFFULL) == 0x7FF0000000000000ULL
    return int(hit != 0)


cdef inline void _measure(const double* xs, Py_ssize_t n, double b, const MetricParams* q,
                          MetricOut* o, Py_ssize_t k) noexcept nogil:
    """Stance k of :func:`stance_metrics`: its force is ``xs[0:n]`` minus ``b``."""
    cdef Py_ssize_t j, h, p, i1, i2, w, ri, di, mi, j20, j80, jend, ti, tl
    cdef double tmid
    cdef double s0, s1, s2, s3
    cdef double f, mx, ssum, m1, m2, tr, r, prom, fref, l20, l80, t20, t80, slope, vmax
    o.peak[k] = NAN
    o.peak_i[k] = NAN
    o.mid[k] = NAN
    o.mid_i[k] = NAN
    o.imp[k] = NAN
    o.imp_i[k] = NAN
    o.first[k] = NAN
    o.trough[k] = NAN
    o.second[k] = NAN
    o.valr[k] = NAN
    o.vilr[k] = NAN
    o.impulse[k] = NAN
    o.method[k] = 0
    o.pattern[k] = 0
    if n <= 0:
        return
    h = n // 2
    if h < 1:
        h = 1
    # pass 1 (one read of the stance): impulse, first-half and second-half maxima
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    m1 = -INFINITY
    i1 = 0
    m2 = NAN
    i2 = -1
    _half_max(xs, 0, h, b, &m1, &i1, &s0, &s1, &s2, &s3)
    if h < n:
        m2 = -INFINITY
        _half_max(xs, h, n, b, &m2, &i2, &s0, &s1, &s2, &s3)
    ssum = ((s0 + s1) + (s2 + s3)) - n * b
    if i2 >= 0 and m2 > m1:
        mx = m2
        p = i2
    else:
        mx = m1
        p = i1
    o.peak[k] = mx
    o.peak_i[k] = p
    o.impulse[k] = ssum / q.rate_hz
    if i2 >= 0:
        tr = m1
        ti = i1
        tl = i1
        j = i1
        while j <= i2:
            if j + 8 <= i2 + 1 and not (_min8(&xs[j]) - b <= tr):
                j += 8
                continue
            f = xs[j] - b
            if f < tr:
                tr = f
                ti = j
                tl = j
            elif f == tr:
                tl = j
            j += 1
        # a walking double hump: trough (the middle of a flat one) mid-stance, and
        # both humps clear it, or (a shallow or flat valley) the humps sit early and
        # late in the stance
        tmid = 0.5 * (ti + tl)
        if tmid >= q.trough_lo_frac * n and tmid <= q.trough_hi_frac * n:
            if m1 - tr >= q.double_hump_frac * mx and m2 - tr >= q.double_hump_frac * mx:
                o.pattern[k] = 1
            elif i1 <= q.first_hi_frac * n and i2 >= q.second_lo_frac * n:
                o.pattern[k] = 2
        if o.pattern[k] != 0:
            o.first[k] = m1
            o.second[k] = m2
            o.trough[k] = tr
    # impact peak: first running maximum inside the window followed by a drop
    w = <Py_ssize_t>floor(n * q.impact_window_frac)
    prom = q.impact_prominence_frac * mx
    r = xs[0] - b
    ri = 0
    di = -1
    for j in range(n):
        f = xs[j] - b
        if f > r:
            r = f
            ri = j
            if ri >= w:
                break
        elif f < r - prom:
            di = j
            break
    if di >= 0 and ri >= 1 and ri < w:
        o.imp[k] = r
        o.imp_i[k] = ri
        if p >= di:
            # the stance maximum lies after the drop: it is the active peak
            mi = p
            vmax = mx
        else:
            mi = di
            vmax = xs[di] - b
            for j in range(di, n):
                f = xs[j] - b
                if f > vmax:
                    vmax = f
                    mi = j
        o.mid[k] = vmax
        o.mid_i[k] = mi
        fref = r
        jend = ri
        o.method[k] = LR_IMPACT
    else:
        o.mid[k] = mx
        o.mid_i[k] = p
        jend = <Py_ssize_t>floor(n * q.surrogate_frac)
        if jend >= n:
            jend = n - 1
        fref = xs[jend] - b
        o.method[k] = LR_SURROGATE
    if o.pattern[k] != 0:
        # two humps: the running mid-stance peak does not exist
        o.mid[k] = NAN
        o.mid_i[k] = NAN
    # loading rates over 20-80 % of the reference force on the rising edge
    if fref <= 0.0 or jend < 1:
        o.method[k] = LR_NONE
        return
    l20 = 0.2 * fref
    l80 = 0.8 * fref
    j20 = -1
    j80 = -1
    for j in range(jend + 1):
        f = xs[j] - b
        if j20 < 0 and f >= l20:
            j20 = j
        if f >= l80:
            j80 = j
            break
    if j20 < 0 or j80 < 0:
        o.method[k] = LR_NONE
        return
    if j20 >= 1:
        t20 = (j20 - 1) + (l20 - (xs[j20 - 1] - b)) / (
            (xs[j20] - b) - (xs[j20 - 1] - b))
    else:
        t20 = 0.0
    if j80 >= 1:
        t80 = (j80 - 1) + (l80 - (xs[j80 - 1] - b)) / (
            (xs[j80] - b) - (xs[j80 - 1] - b))
    else:
        t80 = 0.0
    if t80 > t20:
        o.valr[k] = (l80 - l20) * q.rate_hz / (t80 - t20)
    vmax = NAN
    j = j20 if j20 >= 1 else 1
    while j <= j80:
        slope = ((xs[j] - b) - (xs[j - 1] - b)) * q.rate_hz
        if vmax != vmax or slope > vmax:
            vmax = slope
        j += 1
    o.vilr[k] = vmax


def stance_metrics(const double[::1] x, const cnp.int64_t[::1] start, const cnp.int64_t[::1] end,
                   const double[::1] baseline, double rate_hz, double impact_window_frac,
                   double impact_prominence_frac, double surrogate_frac,
                   double double_hump_frac, double trough_lo_frac, double trough_hi_frac,
                   double first_hi_frac, double second_lo_frac):
    """Per-stance metrics in one pass per stance; returns a dict of arrays (forces in N).

    ``x[start[k]:end[k]]`` minus ``baseline[k]`` is the force of stance k (no NaN inside).
    First peak, trough and second peak are NaN unless the stance has a walking double hump:
    the trough (minimum between the two half maxima) lies within ``[trough_lo_frac,
    trough_hi_frac]`` x n and either both half maxima exceed it by ``double_hump_frac`` x peak
    (pattern 1) or, a shallow or flat valley, the first maximum lies at most ``first_hi_frac``
    x n and the second at least ``second_lo_frac`` x n into the stance (pattern 2). A double-hump
    stance has no running mid-stance peak (NaN). ``peak_pattern``: 0 single peak, 1 double
    hump, 2 double hump with a shallow valley.
    """
    cdef Py_ssize_t m = start.shape[0], k, j, ahead
    cdef MetricOut o
    cdef MetricParams q = MetricParams(rate_hz, impact_window_frac, impact_prominence_frac,
                                       surrogate_frac, double_hump_frac, trough_lo_frac,
                                       trough_hi_frac, first_hi_frac, second_lo_frac)
    arrays = _metric_arrays(m, &o)
    with nogil:
        for k in range(m):
            # the stances ahead lie beyond the hardware prefetcher's reach (a flight away,
            # often another page): ask for the cache lines of the one STANCES_AHEAD ahead
            # (of all of the first ones at the start) while this one is read
            for ahead in range(1 if k == 0 else k + STANCES_AHEAD, k + STANCES_AHEAD + 1):
                if ahead >= m:
                    break
                j = start[ahead]
                while j < end[ahead]:
                    FL_PREFETCH(&x[j])
                    j += 8
            _measure(&x[start[k]] if end[k] > start[k] else NULL, end[k] - start[k],
                     baseline[k], &q, &o, k)
    return arrays


def contact_edges(const double[::1] x, const cnp.int64_t[::1] start,
                  const cnp.int64_t[::1] end, const double[::1] off, Py_ssize_t index_offset):
    """Contact and toe-off of each stance in (fractional) samples where the force crosses
    ``off[k]``; see forcelab.analysis.metrics.contact_edges (the definition) and
    forcelab.analysis.reference.contact_edges_reference (the NumPy form)."""
    cdef Py_ssize_t m = start.shape[0], n = x.shape[0], k
    s_a = np.empty(m, dtype=np.float64)
    e_a = np.empty(m, dtype=np.float64)
    cdef double[::1] o_s = s_a
    cdef double[::1] o_e = e_a
    with nogil:
        for k in range(m):
            _edges_at(&x[0] if n > 0 else NULL, n, start[k], end[k], off[k], index_offset,
                      &o_s[k], &o_e[k])
    return s_a, e_a


def refine_edges(const double[::1] x, const cnp.int64_t[::1] start, const cnp.int64_t[::1] end,
                 const double[::1] baseline, double threshold, const cnp.int64_t[::1] lower,
                 Py_ssize_t window, bint final):
    """Move each stance's contact and toe-off to where the force crosses its edge level.

    The level is ``b + threshold`` where b is the mean of the samples in
    ``[max(start - window, lower), start)`` below ``baseline + threshold / 2`` (the flight just
    before the contact, without the edges of the stances around it; ``baseline`` when fewer
    than 3 such samples). The edge moves outward when the edge sample is at or above the level
    (away from the stance while samples stay at or above it, at most ``window`` samples, never
    below ``lower[k]``), inward when it is below (first / last sample of the stance at or above
    it). An outward walk that meets a missing sample, ``lower[k]``, the end of ``x`` or the
    window without a sample below the level keeps the detected edge. Returns (start, end,
    level, pending): ``pending[k]`` is 1 when the toe-off walk ran into the end of ``x`` inside
    the window and ``final`` is false (a streaming caller must wait for more samples).
    """
    cdef Py_ssize_t m = start.shape[0], n = x.shape[0], k, j, ns, ne
    cdef double lv
    s_a = np.empty(m, dtype=np.int64)
    e_a = np.empty(m, dtype=np.int64)
    l_a = np.empty(m, dtype=np.float64)
    p_a = np.zeros(m, dtype=np.int8)
    cdef cnp.int64_t[::1] o_s = s_a
    cdef cnp.int64_t[::1] o_e = e_a
    cdef double[::1] o_l = l_a
    cdef cnp.int8_t[::1] o_p = p_a
    with nogil:
        for k in range(m):
            if k + 1 < m:
                # the flight before the next contact is far away: ask for its cache lines
                # while this stance is refined
                j = start[k + 1] - window
                if j < 0:
                    j = 0
                while j < start[k + 1] and j < n:
                    FL_PREFETCH(&x[j])
                    j += 8
            o_p[k] = _refine_one(&x[0], n, start[k], end[k], baseline[k], threshold, lower[k],
                                 window, final, &ns, &ne, &lv)
            o_s[k] = ns
            o_e[k] = ne
            o_l[k] = lv
    return s_a, e_a, l_a, p_a


cdef inline double _cheaper_arrival(double alt, double stay, cnp.int8_t alt_from,
                                   cnp.int8_t* came_from) noexcept nogil:
    """Cost of the cheaper way to a foot: by alternation (from foot ``alt_from``, cost ``alt``)
    or from the same foot (cost ``stay``), ties to alternation; ``came_from`` gets the foot."""
    cdef bint by_alternation = alt <= stay
    came_from[0] = alt_from if by_alternation else 1 - alt_from
    return alt if by_alternation else stay


def alternation(const cnp.int8_t[::1] obs, double same_cost):
    """Most likely foot sequence of one run of stances (two-state Viterbi).

    ``obs[k]`` is 1 when stance k looks like a right-foot contact, 0 when it looks like a
    left one. A stance whose side disagrees with its observation costs 1; two contacts of the
    same foot in a row cost ``same_cost``; alternation costs nothing. Ties go to the path whose
    first stance agrees with ``obs[0]``, then to alternation. Returns int8: 1 = right.
    """
    cdef Py_ssize_t n = obs.shape[0], k
    out_a = np.zeros(n, dtype=np.int8)
    back_a = np.zeros((n, 2), dtype=np.int8)
    cdef cnp.int8_t[::1] out = out_a
    cdef cnp.int8_t[:, ::1] back = back_a
    cdef double c0, c1, n0, n1
    cdef int last
    if n == 0:
        return out_a
    # cost of a path ending left (0) / right (1); a first stance against its observation pays
    # a little extra so that ties keep it
    c0 = (1.0 if obs[0] == 1 else 0.0) + (1e-6 if obs[0] == 1 else 0.0)
    c1 = (1.0 if obs[0] == 0 else 0.0) + (1e-6 if obs[0] == 0 else 0.0)
    with nogil:
        for k in range(1, n):
            # ending left at k: from right (alternation) or from left (same foot); likewise right
            n0 = _cheaper_arrival(c1, c0 + same_cost, 1, &back[k, 0])
            n1 = _cheaper_arrival(c0, c1 + same_cost, 0, &back[k, 1])
            c0 = n0 + (1.0 if obs[k] == 1 else 0.0)
            c1 = n1 + (1.0 if obs[k] == 0 else 0.0)
        last = 0 if c0 <= c1 else 1
        k = n - 1
        while True:
            out[k] = last
            if k == 0:
                break
            last = back[k, last]
            k -= 1
    return out_a
