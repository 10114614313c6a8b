// AVX-512 NTT over 64-bit primes. Swift does not vectorize the Shoup butterfly (its 64×64→128-bit high product
// has no vector instruction), so these kernels spell it out: the high product from four 32×32 multiplies, the low
// products with AVX-512DQ's vpmullq. The butterflies, their order and their lazy ranges are those of
// NTTTables.forwardLazy / inverseLazy, so the outputs are identical word for word.
//
// Layout: stages whose butterflies are at least 16 words apart run radix-4 over vectors of 8 lanes (two stages
// per pass over memory); the last four stages of the forward transform (distances 8, 4, 2, 1) and the first four
// of the inverse run on 16 words held in two registers, with lane permutations between stages.
#include "CModularKernels.h"
#include <stddef.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define TESSERA_AVX512 __attribute__((target("avx512f,avx512dq")))

int tessera_kernels_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

/// floor(a·b / 2^64) per lane; `b_hi` = b >> 32.
TESSERA_AVX512 static inline __m512i mul_high(__m512i a, __m512i b, __m512i b_hi) {
    const __m512i low32 = _mm512_set1_epi64(0xffffffff);
    __m512i a_hi = _mm512_srli_epi64(a, 32);
    __m512i ll = _mm512_mul_epu32(a, b);
    __m512i lh = _mm512_mul_epu32(a, b_hi);
    __m512i hl = _mm512_mul_epu32(a_hi, b);
    __m512i hh = _mm512_mul_epu32(a_hi, b_hi);
    __m512i mid = _mm512_add_epi64(_mm512_srli_epi64(ll, 32), _mm512_and_si512(lh, low32));
    mid = _mm512_add_epi64(mid, _mm512_and_si512(hl, low32));
    __m512i hi = _mm512_add_epi64(hh, _mm512_srli_epi64(lh, 32));
    hi = _mm512_add_epi64(hi, _mm512_srli_epi64(hl, 32));
    return _mm512_add_epi64(hi, _mm512_srli_epi64(mid, 32));
}

/// Shoup's x·w mod q in [0, 2q) for any 64-bit x.
TESSERA_AVX512 static inline __m512i mul_shoup_lazy(__m512i x, __m512i w, __m512i ws, __m512i ws_hi, __m512i q) {
    __m512i h = mul_high(x, ws, ws_hi);
    return _mm512_sub_epi64(_mm512_mullo_epi64(x, w), _mm512_mullo_epi64(h, q));
}

/// x ≥ m ? x − m : x (for x < m + 2^63).
TESSERA_AVX512 static inline __m512i reduce_once(__m512i x, __m512i m) {
    return _mm512_min_epu64(x, _mm512_sub_epi64(x, m));
}

/// Forward (Harvey) butterfly: x ← x' + t, y ← x' + 2q − t with x' = x mod 2q (once), t = y·w mod q in [0, 2q).
TESSERA_AVX512 static inline void forward_butterfly(__m512i *x, __m512i *y, __m512i w, __m512i ws, __m512i ws_hi,
                                                    __m512i q, __m512i two_q) {
    __m512i u = reduce_once(*x, two_q);
    __m512i t = mul_shoup_lazy(*y, w, ws, ws_hi, q);
    *x = _mm512_add_epi64(u, t);
    *y = _mm512_sub_epi64(_mm512_add_epi64(u, two_q), t);
}

/// Inverse (Gentleman–Sande) butterfly: x ← (x + y) mod 2q (once), y ← (x + 2q − y)·w mod q in [0, 2q).
TESSERA_AVX512 static inline void inverse_butterfly(__m512i *x, __m512i *y, __m512i w, __m512i ws, __m512i ws_hi,
                                                    __m512i q, __m512i two_q) {
    __m512i s = reduce_once(_mm512_add_epi64(*x, *y), two_q);
    __m512i d = _mm512_sub_epi64(_mm512_add_epi64(*x, two_q), *y);
    *x = s;
    *y = mul_shoup_lazy(d, w, ws, ws_hi, q);
}

/// A twiddle w broadcast to every lane as `name`, its Shoup companion as `name##s` and that one's high half
/// (for mul_high) as `name##s_hi`.
#define TWIDDLE(name, value, shoup)                                \
    const __m512i name = _mm512_set1_epi64((long long)(value));    \
    const __m512i name##s = _mm512_set1_epi64((long long)(shoup)); \
    const __m512i name##s_hi = _mm512_srli_epi64(name##s, 32)

TESSERA_AVX512
void tessera_ntt_forward_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n) {
    const size_t n = (size_t)1 << log_n;
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i two_q = _mm512_set1_epi64((long long)(q << 1));
    size_t t = n >> 1, m = 1;
    // Stages with distance ≥ 16, radix 4 (one radix-2 stage first when their count is odd).
    if (((log_n - 4) & 1) == 1) {
        TWIDDLE(vw, w[1], w_shoup[1]);
        for (size_t j = 0; j < t; j += 8) {
            __m512i x = _mm512_loadu_si512(a + j), y = _mm512_loadu_si512(a + t + j);
            forward_butterfly(&x, &y, vw, vws, vws_hi, vq, two_q);
            _mm512_storeu_si512(a + j, x);
            _mm512_storeu_si512(a + t + j, y);
        }
        m = 2;
        t >>= 1;
    }
    for (; t >= 32; m <<= 2, t >>= 2) {
        const size_t half = t >> 1;
        for (size_t i = 0; i < m; i++) {
            TWIDDLE(w1, w[m + i], w_shoup[m + i]);
            TWIDDLE(w2, w[2 * m + 2 * i], w_shoup[2 * m + 2 * i]);
            TWIDDLE(w3, w[2 * m + 2 * i + 1], w_shoup[2 * m + 2 * i + 1]);
            uint64_t *p0 = a + 2 * i * t, *p1 = p0 + half, *p2 = p0 + t, *p3 = p2 + half;
            for (size_t j = 0; j < half; j += 8) {
                __m512i x0 = _mm512_loadu_si512(p0 + j), x1 = _mm512_loadu_si512(p1 + j);
                __m512i x2 = _mm512_loadu_si512(p2 + j), x3 = _mm512_loadu_si512(p3 + j);
                forward_butterfly(&x0, &x2, w1, w1s, w1s_hi, vq, two_q);
                forward_butterfly(&x1, &x3, w1, w1s, w1s_hi, vq, two_q);
                forward_butterfly(&x0, &x1, w2, w2s, w2s_hi, vq, two_q);
                forward_butterfly(&x2, &x3, w3, w3s, w3s_hi, vq, two_q);
                _mm512_storeu_si512(p0 + j, x0);
                _mm512_storeu_si512(p1 + j, x1);
                _mm512_storeu_si512(p2 + j, x2);
                _mm512_storeu_si512(p3 + j, x3);
            }
        }
    }
    // Distances 8, 4, 2, 1 (stages m = n/16 … n/2) on 16 words e0…e15 at a time.
    const __m512i low_halves = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);   // from (x, y): 128-bit lanes x0 y0 x2 y2
    const __m512i high_halves = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15); // x1 y1 x3 y3
    const __m512i pairs = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
    const __m512i quads = _mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1);
    const __m512i out_lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i out_hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    const size_t m8 = n >> 4, m4 = n >> 3, m2 = n >> 2, m1 = n >> 1;
    for (size_t c = 0; c < m8; c++) {
        uint64_t *e = a + 16 * c;
        __m512i x = _mm512_loadu_si512(e), y = _mm512_loadu_si512(e + 8);
        {  // distance 8: x = e0…7, y = e8…15, one twiddle
            TWIDDLE(vw, w[m8 + c], w_shoup[m8 + c]);
            forward_butterfly(&x, &y, vw, vws, vws_hi, vq, two_q);
        }
        {  // distance 4: x = e0…3 e8…11, y = e4…7 e12…15, twiddles (a a a a b b b b)
            __m512i x4 = _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(1, 0, 1, 0));
            __m512i y4 = _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(3, 2, 3, 2));
            __m512i vw = _mm512_permutexvar_epi64(quads, _mm512_castsi128_si512(_mm_loadu_si128((const void *)(w + m4 + 2 * c))));
            __m512i vws = _mm512_permutexvar_epi64(quads, _mm512_castsi128_si512(_mm_loadu_si128((const void *)(w_shoup + m4 + 2 * c))));
            forward_butterfly(&x4, &y4, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
            x = x4;
            y = y4;
        }
        {  // distance 2: x = e0 e1 e4 e5 e8 e9 e12 e13, y = e2 e3 e6 e7 …, twiddles (a a b b c c d d)
            __m512i x2 = _mm512_permutex2var_epi64(x, low_halves, y);
            __m512i y2 = _mm512_permutex2var_epi64(x, high_halves, y);
            __m512i vw = _mm512_permutexvar_epi64(pairs, _mm512_castsi256_si512(_mm256_loadu_si256((const void *)(w + m2 + 4 * c))));
            __m512i vws = _mm512_permutexvar_epi64(pairs, _mm512_castsi256_si512(_mm256_loadu_si256((const void *)(w_shoup + m2 + 4 * c))));
            forward_butterfly(&x2, &y2, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
            x = x2;
            y = y2;
        }
        {  // distance 1: x = even words, y = odd words, eight twiddles
            __m512i x1 = _mm512_unpacklo_epi64(x, y);
            __m512i y1 = _mm512_unpackhi_epi64(x, y);
            __m512i vw = _mm512_loadu_si512(w + m1 + 8 * c);
            __m512i vws = _mm512_loadu_si512(w_shoup + m1 + 8 * c);
            forward_butterfly(&x1, &y1, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
            // Back to e0…7, e8…15: (x, y) interleaved per 128-bit lane gives e0 e1 e4 e5 … and e2 e3 e6 e7 ….
            __m512i lo = _mm512_unpacklo_epi64(x1, y1);
            __m512i hi = _mm512_unpackhi_epi64(x1, y1);
            x = _mm512_permutex2var_epi64(lo, out_lo, hi);
            y = _mm512_permutex2var_epi64(lo, out_hi, hi);
        }
        _mm512_storeu_si512(e, x);
        _mm512_storeu_si512(e + 8, y);
    }
}

TESSERA_AVX512
void tessera_ntt_inverse_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n,
                              uint64_t n_inv, uint64_t n_inv_shoup, uint64_t wn, uint64_t wn_shoup) {
    const size_t n = (size_t)1 << log_n;
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i two_q = _mm512_set1_epi64((long long)(q << 1));
    // Distances 1, 2, 4, 8 (stages m = n/2 … n/16) on 16 words at a time.
    const __m512i evens = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i odds = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    const __m512i low_halves = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i high_halves = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const __m512i pairs = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
    const __m512i quads = _mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1);
    const size_t m8 = n >> 4, m4 = n >> 3, m2 = n >> 2, m1 = n >> 1;
    for (size_t c = 0; c < m8; c++) {
        uint64_t *e = a + 16 * c;
        __m512i lo = _mm512_loadu_si512(e), hi = _mm512_loadu_si512(e + 8);
        // distance 1: x = even words, y = odd words
        __m512i x = _mm512_permutex2var_epi64(lo, evens, hi);
        __m512i y = _mm512_permutex2var_epi64(lo, odds, hi);
        {
            __m512i vw = _mm512_loadu_si512(w + m1 + 8 * c);
            __m512i vws = _mm512_loadu_si512(w_shoup + m1 + 8 * c);
            inverse_butterfly(&x, &y, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
        }
        {  // distance 2: x = e0 e1 e4 e5 …, y = e2 e3 e6 e7 …
            __m512i x2 = _mm512_unpacklo_epi64(x, y);
            __m512i y2 = _mm512_unpackhi_epi64(x, y);
            __m512i vw = _mm512_permutexvar_epi64(pairs, _mm512_castsi256_si512(_mm256_loadu_si256((const void *)(w + m2 + 4 * c))));
            __m512i vws = _mm512_permutexvar_epi64(pairs, _mm512_castsi256_si512(_mm256_loadu_si256((const void *)(w_shoup + m2 + 4 * c))));
            inverse_butterfly(&x2, &y2, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
            x = x2;
            y = y2;
        }
        {  // distance 4: x = e0…3 e8…11, y = e4…7 e12…15
            __m512i x4 = _mm512_permutex2var_epi64(x, low_halves, y);
            __m512i y4 = _mm512_permutex2var_epi64(x, high_halves, y);
            __m512i vw = _mm512_permutexvar_epi64(quads, _mm512_castsi128_si512(_mm_loadu_si128((const void *)(w + m4 + 2 * c))));
            __m512i vws = _mm512_permutexvar_epi64(quads, _mm512_castsi128_si512(_mm_loadu_si128((const void *)(w_shoup + m4 + 2 * c))));
            inverse_butterfly(&x4, &y4, vw, vws, _mm512_srli_epi64(vws, 32), vq, two_q);
            x = x4;
            y = y4;
        }
        {  // distance 8: x = e0…7, y = e8…15
            __m512i x8 = _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(1, 0, 1, 0));
            __m512i y8 = _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(3, 2, 3, 2));
            TWIDDLE(vw, w[m8 + c], w_shoup[m8 + c]);
            inverse_butterfly(&x8, &y8, vw, vws, vws_hi, vq, two_q);
            x = x8;
            y = y8;
        }
        _mm512_storeu_si512(e, x);
        _mm512_storeu_si512(e + 8, y);
    }
    // Stages m = n/32 … 2 (distance t = 16 …), radix 4, then one radix-2 stage if their count is odd.
    size_t t = 16, m = n >> 5;
    for (; m > 2; m >>= 2, t <<= 2) {
        const size_t groups = m >> 1;
        for (size_t i = 0; i < groups; i++) {
            TWIDDLE(wa, w[m + 2 * i], w_shoup[m + 2 * i]);
            TWIDDLE(wb, w[m + 2 * i + 1], w_shoup[m + 2 * i + 1]);
            TWIDDLE(wc, w[groups + i], w_shoup[groups + i]);
            uint64_t *p0 = a + 4 * i * t, *p1 = p0 + t, *p2 = p1 + t, *p3 = p2 + t;
            for (size_t j = 0; j < t; j += 8) {
                __m512i x0 = _mm512_loadu_si512(p0 + j), x1 = _mm512_loadu_si512(p1 + j);
                __m512i x2 = _mm512_loadu_si512(p2 + j), x3 = _mm512_loadu_si512(p3 + j);
                inverse_butterfly(&x0, &x1, wa, was, was_hi, vq, two_q);
                inverse_butterfly(&x2, &x3, wb, wbs, wbs_hi, vq, two_q);
                inverse_butterfly(&x0, &x2, wc, wcs, wcs_hi, vq, two_q);
                inverse_butterfly(&x1, &x3, wc, wcs, wcs_hi, vq, two_q);
                _mm512_storeu_si512(p0 + j, x0);
                _mm512_storeu_si512(p1 + j, x1);
                _mm512_storeu_si512(p2 + j, x2);
                _mm512_storeu_si512(p3 + j, x3);
            }
        }
    }
    if (m == 2) {
        for (size_t i = 0; i < 2; i++) {
            TWIDDLE(vw, w[2 + i], w_shoup[2 + i]);
            uint64_t *x = a + 2 * i * t, *y = x + t;
            for (size_t j = 0; j < t; j += 8) {
                __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
                inverse_butterfly(&vx, &vy, vw, vws, vws_hi, vq, two_q);
                _mm512_storeu_si512(x + j, vx);
                _mm512_storeu_si512(y + j, vy);
            }
        }
    }
    // Last stage (m = 1) with the scaling by n^-1.
    TWIDDLE(vn, n_inv, n_inv_shoup);
    TWIDDLE(vwn, wn, wn_shoup);
    const size_t half = n >> 1;
    for (size_t j = 0; j < half; j += 8) {
        __m512i u = _mm512_loadu_si512(a + j), v = _mm512_loadu_si512(a + half + j);
        __m512i s = reduce_once(_mm512_add_epi64(u, v), two_q);
        __m512i d = _mm512_sub_epi64(_mm512_add_epi64(u, two_q), v);
        _mm512_storeu_si512(a + j, mul_shoup_lazy(s, vn, vns, vns_hi, vq));
        _mm512_storeu_si512(a + half + j, mul_shoup_lazy(d, vwn, vwns, vwns_hi, vq));
    }
}

/// dst[c] (+)= (x[c] + offset − t[c]) · w mod q in [0, q), for x + offset − t in [0, 2^64) (no borrow).
TESSERA_AVX512
void tessera_scaled_difference(uint64_t *dst, const uint64_t *x, const uint64_t *t, size_t n, uint64_t offset,
                               uint64_t w, uint64_t w_shoup, uint64_t q, int accumulate) {
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i voff = _mm512_set1_epi64((long long)offset);
    TWIDDLE(vw, w, w_shoup);
    size_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m512i v = _mm512_sub_epi64(_mm512_add_epi64(_mm512_loadu_si512(x + c), voff), _mm512_loadu_si512(t + c));
        __m512i r = reduce_once(mul_shoup_lazy(v, vw, vws, vws_hi, vq), vq);
        if (accumulate) r = reduce_once(_mm512_add_epi64(r, _mm512_loadu_si512(dst + c)), vq);
        _mm512_storeu_si512(dst + c, r);
    }
    for (; c < n; c++) {
        uint64_t v = x[c] + offset - t[c];
        uint64_t r = v * w - (uint64_t)(((unsigned __int128)v * w_shoup) >> 64) * q;
        r = r >= q ? r - q : r;
        if (accumulate) { r += dst[c]; r = r >= q ? r - q : r; }
        dst[c] = r;
    }
}

/// out[c] = (c0 + Σ_j x_j[c] · w_j) mod q in [0, q) (Shoup constants w_shoup_j; any 64-bit x_j[c]; c0 < q).
TESSERA_AVX512
void tessera_linear_combination(uint64_t *out, const uint64_t *const *x, const uint64_t *w, const uint64_t *w_shoup,
                                int terms, uint64_t c0, size_t n, uint64_t q) {
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i two_q = _mm512_set1_epi64((long long)(q << 1));
    const __m512i vc0 = _mm512_set1_epi64((long long)c0);
    size_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m512i acc = vc0;  // [0, 2q)
        for (int j = 0; j < terms; j++) {
            TWIDDLE(vw, w[j], w_shoup[j]);
            __m512i p = mul_shoup_lazy(_mm512_loadu_si512(x[j] + c), vw, vws, vws_hi, vq);  // [0, 2q)
            acc = reduce_once(_mm512_add_epi64(acc, p), two_q);
        }
        acc = reduce_once(acc, vq);
        _mm512_storeu_si512(out + c, acc);
    }
    for (; c < n; c++) {
        uint64_t acc = c0;
        for (int j = 0; j < terms; j++) {
            uint64_t v = x[j][c];
            uint64_t p = v * w[j] - (uint64_t)(((unsigned __int128)v * w_shoup[j]) >> 64) * q;
            acc += p;
            acc = acc >= 2 * q ? acc - 2 * q : acc;
        }
        out[c] = acc >= q ? acc - q : acc;
    }
}

#else

int tessera_kernels_available(void) { return 0; }
void tessera_scaled_difference(uint64_t *dst, const uint64_t *x, const uint64_t *t, size_t n, uint64_t offset,
                               uint64_t w, uint64_t w_shoup, uint64_t q, int accumulate) {
    (void)dst; (void)x; (void)t; (void)n; (void)offset; (void)w; (void)w_shoup; (void)q; (void)accumulate;
}
void tessera_linear_combination(uint64_t *out, const uint64_t *const *x, const uint64_t *w, const uint64_t *w_shoup,
                                int terms, uint64_t c0, size_t n, uint64_t q) {
    (void)out; (void)x; (void)w; (void)w_shoup; (void)terms; (void)c0; (void)n; (void)q;
}
void tessera_ntt_forward_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n) {
    (void)a; (void)w; (void)w_shoup; (void)q; (void)log_n;
}
void tessera_ntt_inverse_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n,
                              uint64_t n_inv, uint64_t n_inv_shoup, uint64_t wn, uint64_t wn_shoup) {
    (void)a; (void)w; (void)w_shoup; (void)q; (void)log_n; (void)n_inv; (void)n_inv_shoup; (void)wn; (void)wn_shoup;
}

#endif
