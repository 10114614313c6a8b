// RNS inner products with a Montgomery reduction: the fast basis conversion rows (BasisConverter.montgomeryRow)
// and the key-switching inner product (KeySwitcher.montgomeryInnerRow). Both compute, per coefficient, a sum S of
// 64×64-bit products and output S · 2^-64 mod q in [0, q). Under the callers' bound on S (S < 2q · 2^64) that
// output is the unique residue in [0, q), so any exact reduction yields the same words as the Swift loops.
//
// With AVX-512 IFMA the products are taken in 52-bit limbs (x = x0 + x1·2^52, x1 < 2^12): S accumulates in three
// columns of weight 1, 2^52, 2^104 with fused multiply-adds and no carry handling per term, then two Montgomery
// steps (radix 2^52, then radix 2^12) divide by 2^64. Moduli and operands below 2^52 skip the high-limb products.
// Without IFMA (or off x86) the portable loops below run: the same arithmetic as the Swift code.
#include "CModularKernels.h"
#include <stddef.h>

// Portable reference loops: the fallback without IFMA, and the only path off x86.
#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 tessera_u128;

/// S · 2^-64 mod q in [0, q) for S = high·2^64 + low < 2q·2^64, q odd, q_inv = q^-1 mod 2^64.
static inline uint64_t montgomery_reduce_portable(uint64_t high, uint64_t low, uint64_t q, uint64_t q_inv) {
    uint64_t m = low * q_inv;
    uint64_t r = high - (uint64_t)(((tessera_u128)m * q) >> 64);  // (−q, 2q)
    r += (uint64_t)((int64_t)r >> 63) & q;
    return r >= q ? r - q : r;
}

static void convert_montgomery_portable(const uint64_t *y, int k, size_t n, int targets, const uint64_t *rows,
                                        uint64_t *const *out, const uint64_t *t, const uint64_t *t_inv) {
    for (int tg = 0; tg < targets; tg++) {
        const uint64_t *row = rows + (size_t)tg * (size_t)k;
        uint64_t *o = out[tg];
        for (size_t c = 0; c < n; c++) {
            tessera_u128 s = 0;
            for (int i = 0; i < k; i++) s += (tessera_u128)y[(size_t)i * n + c] * row[i];
            o[c] = montgomery_reduce_portable((uint64_t)(s >> 64), (uint64_t)s, t[tg], t_inv[tg]);
        }
    }
}

static void inner_product_montgomery_portable(int digits, const uint64_t *const *d, const uint64_t *const *b,
                                              const uint64_t *const *a, const int32_t *perm, size_t n,
                                              uint64_t *out0, uint64_t *out1, uint64_t q, uint64_t q_inv) {
    for (size_t c = 0; c < n; c++) {
        const size_t src = perm ? (size_t)perm[c] : c;
        tessera_u128 s0 = 0, s1 = 0;
        for (int j = 0; j < digits; j++) {
            const uint64_t x = d[j][src];
            s0 += (tessera_u128)x * b[j][c];
            s1 += (tessera_u128)x * a[j][c];
        }
        out0[c] = montgomery_reduce_portable((uint64_t)(s0 >> 64), (uint64_t)s0, q, q_inv);
        out1[c] = montgomery_reduce_portable((uint64_t)(s1 >> 64), (uint64_t)s1, q, q_inv);
    }
}
#else
#error "CModularKernels needs a compiler with unsigned __int128 (64-bit clang or gcc)"
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define TESSERA_IFMA __attribute__((target("avx512f,avx512dq,avx512ifma")))
#define TESSERA_INLINE static inline __attribute__((always_inline))

int tessera_ifma_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512ifma");
}

/// Cached tessera_ifma_available(): 0 unknown, 1 no, 2 yes.
static int ifma_state = 0;

static int use_ifma(void) {
    int state = __atomic_load_n(&ifma_state, __ATOMIC_RELAXED);
    if (state == 0) {
        state = tessera_ifma_available() ? 2 : 1;
        __atomic_store_n(&ifma_state, state, __ATOMIC_RELAXED);
    }
    return state == 2;
}

#define LO52(acc, x, y) _mm512_madd52lo_epu64(acc, x, y)
#define HI52(acc, x, y) _mm512_madd52hi_epu64(acc, x, y)

/// Modulus constants for the reduction: q, its limbs q >> 52 and 2q, and q' = −q^-1 mod 2^52.
typedef struct {
    __m512i q, q1, two_q, q_neg_inv;
} ifma_modulus;

TESSERA_IFMA TESSERA_INLINE ifma_modulus ifma_modulus_make(uint64_t q, uint64_t q_inv) {
    ifma_modulus m;
    m.q = _mm512_set1_epi64((long long)q);
    m.q1 = _mm512_set1_epi64((long long)(q >> 52));
    m.two_q = _mm512_set1_epi64((long long)(q << 1));
    m.q_neg_inv = _mm512_set1_epi64((long long)((0 - q_inv) & ((1ULL << 52) - 1)));
    return m;
}

/// S · 2^-64 mod q in [0, q) for S = c0 + c1·2^52 + c2·2^104 < 2q·2^64, q < 2^62, c0 and c1 below 2^62.
/// `wide`: q ≥ 2^52 (else its high limb is zero and two products drop out).
TESSERA_IFMA TESSERA_INLINE __m512i ifma_reduce(__m512i c0, __m512i c1, __m512i c2, const ifma_modulus *m,
                                                const int wide) {
    const __m512i zero = _mm512_setzero_si512();
    // Radix 2^52: add m0·q with m0 = −c0/q mod 2^52, so that column 0 becomes a multiple of 2^52; drop it.
    __m512i m0 = LO52(zero, c0, m->q_neg_inv);
    c0 = LO52(c0, m0, m->q);
    c1 = HI52(c1, m0, m->q);
    if (wide) {
        c1 = LO52(c1, m0, m->q1);
        c2 = HI52(c2, m0, m->q1);
    }
    c1 = _mm512_add_epi64(c1, _mm512_srli_epi64(c0, 52));
    // Radix 2^12 on T = c1 + c2·2^52: add m1·q with m1 = −T/q mod 2^12, then shift out 12 bits.
    __m512i m1 = _mm512_and_si512(LO52(zero, c1, m->q_neg_inv), _mm512_set1_epi64(0xfff));
    c1 = LO52(c1, m1, m->q);
    c2 = HI52(c2, m1, m->q);
    if (wide) c2 = LO52(c2, m1, m->q1);  // m1·q1 < 2^24: no high part
    __m512i r = _mm512_add_epi64(_mm512_srli_epi64(c1, 12), _mm512_slli_epi64(c2, 40));
    // r < 3q + q/2^12: subtract 2q, then q, when they fit.
    r = _mm512_min_epu64(r, _mm512_sub_epi64(r, m->two_q));
    return _mm512_min_epu64(r, _mm512_sub_epi64(r, m->q));
}

/// Adds x·y to the columns (c0, c1, c2) for x = x0 + x1·2^52, y = y0 + y1·2^52 (x1, y1 < 2^12 given in x_hi,
/// y_hi; IFMA reads only the low 52 bits of x and y). `x_wide` / `y_wide`: whether x1 / y1 may be nonzero.
#define MUL_ACC(c0, c1, c2, x, x_hi, y, y_hi, x_wide, y_wide) \
    do {                                                      \
        c0 = LO52(c0, x, y);                                  \
        c1 = HI52(c1, x, y);                                  \
        if (y_wide) {                                         \
            c1 = LO52(c1, x, y_hi);                           \
            c2 = HI52(c2, x, y_hi);                           \
        }                                                     \
        if (x_wide) {                                         \
            c1 = LO52(c1, x_hi, y);                           \
            c2 = HI52(c2, x_hi, y);                           \
        }                                                     \
        if ((x_wide) && (y_wide)) c2 = LO52(c2, x_hi, y_hi);  \
    } while (0)

/// Moves carries up so that more terms can be added (c0, c1 < 2^52 after).
#define NORMALIZE(c0, c1, c2)                                            \
    do {                                                                 \
        c1 = _mm512_add_epi64(c1, _mm512_srli_epi64(c0, 52));            \
        c0 = _mm512_and_si512(c0, _mm512_set1_epi64((1LL << 52) - 1));   \
        c2 = _mm512_add_epi64(c2, _mm512_srli_epi64(c1, 52));            \
        c1 = _mm512_and_si512(c1, _mm512_set1_epi64((1LL << 52) - 1));   \
    } while (0)

// MARK: Basis conversion

/// Per-target constants, broadcast from memory in the loop: modulus (q, q >> 52, 2q, −q^-1 mod 2^52), the row and
/// the row's high limbs.
typedef struct {
    uint64_t q, q1, two_q, q_neg_inv;
    uint64_t row[8], row_hi[8];
    int wide;
} convert_target;

#define TARGET_CHUNK 32

TESSERA_IFMA TESSERA_INLINE ifma_modulus convert_target_modulus(const convert_target *ct) {
    ifma_modulus m;
    m.q = _mm512_set1_epi64((long long)ct->q);
    m.q1 = _mm512_set1_epi64((long long)ct->q1);
    m.two_q = _mm512_set1_epi64((long long)ct->two_q);
    m.q_neg_inv = _mm512_set1_epi64((long long)ct->q_neg_inv);
    return m;
}

/// One target over 8 coefficients: y (K vectors, their high limbs in y_hi). Two accumulators per upper column
/// shorten the dependency chains. `t_wide`: t ≥ 2^52 (so may the row be); `y_wide`: some y ≥ 2^52.
TESSERA_IFMA TESSERA_INLINE __m512i convert_lanes(const __m512i *yv, const __m512i *y_hi, const int K,
                                                  const convert_target *ct, const int t_wide, const int y_wide) {
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c1b = c0, c2 = c0, c2b = c0;
    for (int i = 0; i < K; i++) {
        const __m512i r = _mm512_set1_epi64((long long)ct->row[i]);
        c0 = LO52(c0, yv[i], r);
        c1 = HI52(c1, yv[i], r);
        if (y_wide) {
            c1b = LO52(c1b, y_hi[i], r);
            c2 = HI52(c2, y_hi[i], r);
        }
        if (t_wide) {
            const __m512i r_hi = _mm512_set1_epi64((long long)ct->row_hi[i]);
            c1b = LO52(c1b, yv[i], r_hi);
            c2b = HI52(c2b, yv[i], r_hi);
            if (y_wide) c2b = LO52(c2b, y_hi[i], r_hi);
        }
    }
    const ifma_modulus m = convert_target_modulus(ct);
    return ifma_reduce(c0, _mm512_add_epi64(c1, c1b), _mm512_add_epi64(c2, c2b), &m, t_wide);
}

/// The rows for k = K ≤ 8 (compile-time), all targets per 8 coefficients so that y stays in registers.
TESSERA_IFMA TESSERA_INLINE void convert_fixed_k(const uint64_t *y, const int K, size_t n, int targets,
                                                 const uint64_t *rows, uint64_t *const *out, const uint64_t *t,
                                                 const uint64_t *t_inv) {
    convert_target table[TARGET_CHUNK];
    for (int first = 0; first < targets; first += TARGET_CHUNK) {
        const int count = targets - first < TARGET_CHUNK ? targets - first : TARGET_CHUNK;
        for (int j = 0; j < count; j++) {
            const uint64_t q = t[first + j];
            convert_target *ct = &table[j];
            ct->q = q;
            ct->q1 = q >> 52;
            ct->two_q = q << 1;
            ct->q_neg_inv = (0 - t_inv[first + j]) & ((1ULL << 52) - 1);
            ct->wide = q >> 52 != 0;
            for (int i = 0; i < K; i++) {
                ct->row[i] = rows[(size_t)(first + j) * (size_t)K + (size_t)i];
                ct->row_hi[i] = ct->row[i] >> 52;
            }
        }
        uint64_t *const *o = out + first;
        for (size_t c = 0; c < n; c += 8) {
            const __mmask8 mask = n - c >= 8 ? 0xff : (__mmask8)((1u << (n - c)) - 1);
            __m512i yv[8], y_hi[8], any_hi = _mm512_setzero_si512();
            for (int i = 0; i < K; i++) {
                yv[i] = _mm512_maskz_loadu_epi64(mask, y + (size_t)i * n + c);
                y_hi[i] = _mm512_srli_epi64(yv[i], 52);
                any_hi = _mm512_or_si512(any_hi, y_hi[i]);
            }
            if (_mm512_test_epi64_mask(any_hi, any_hi)) {
                for (int j = 0; j < count; j++) {
                    const __m512i r = table[j].wide ? convert_lanes(yv, y_hi, K, &table[j], 1, 1)
                                                    : convert_lanes(yv, y_hi, K, &table[j], 0, 1);
                    _mm512_mask_storeu_epi64(o[j] + c, mask, r);
                }
            } else {  // every y below 2^52 (sources of at most 52 bits)
                for (int j = 0; j < count; j++) {
                    const __m512i r = table[j].wide ? convert_lanes(yv, y_hi, K, &table[j], 1, 0)
                                                    : convert_lanes(yv, y_hi, K, &table[j], 0, 0);
                    _mm512_mask_storeu_epi64(o[j] + c, mask, r);
                }
            }
        }
    }
}

/// Any k: y read from memory per target, carries moved up every 256 terms.
TESSERA_IFMA static void convert_any_k(const uint64_t *y, int k, size_t n, int targets, const uint64_t *rows,
                                       uint64_t *const *out, const uint64_t *t, const uint64_t *t_inv) {
    for (size_t c = 0; c < n; c += 8) {
        const __mmask8 mask = n - c >= 8 ? 0xff : (__mmask8)((1u << (n - c)) - 1);
        for (int tg = 0; tg < targets; tg++) {
            const ifma_modulus m = ifma_modulus_make(t[tg], t_inv[tg]);
            const uint64_t *row = rows + (size_t)tg * (size_t)k;
            __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0;
            for (int i = 0; i < k; i++) {
                const __m512i x = _mm512_maskz_loadu_epi64(mask, y + (size_t)i * n + c);
                const __m512i x_hi = _mm512_srli_epi64(x, 52);
                const __m512i r = _mm512_set1_epi64((long long)row[i]);
                const __m512i r_hi = _mm512_set1_epi64((long long)(row[i] >> 52));
                MUL_ACC(c0, c1, c2, x, x_hi, r, r_hi, 1, 1);
                if ((i & 255) == 255) NORMALIZE(c0, c1, c2);
            }
            _mm512_mask_storeu_epi64(out[tg] + c, mask, ifma_reduce(c0, c1, c2, &m, 1));
        }
    }
}

TESSERA_IFMA static void convert_montgomery_ifma(const uint64_t *y, int k, size_t n, int targets,
                                                 const uint64_t *rows, uint64_t *const *out, const uint64_t *t,
                                                 const uint64_t *t_inv) {
    switch (k) {
    case 1: convert_fixed_k(y, 1, n, targets, rows, out, t, t_inv); break;
    case 2: convert_fixed_k(y, 2, n, targets, rows, out, t, t_inv); break;
    case 3: convert_fixed_k(y, 3, n, targets, rows, out, t, t_inv); break;
    case 4: convert_fixed_k(y, 4, n, targets, rows, out, t, t_inv); break;
    case 5: convert_fixed_k(y, 5, n, targets, rows, out, t, t_inv); break;
    case 6: convert_fixed_k(y, 6, n, targets, rows, out, t, t_inv); break;
    case 7: convert_fixed_k(y, 7, n, targets, rows, out, t, t_inv); break;
    case 8: convert_fixed_k(y, 8, n, targets, rows, out, t, t_inv); break;
    default: convert_any_k(y, k, n, targets, rows, out, t, t_inv); break;
    }
}

// MARK: Key-switching inner product

/// `d_wide`: digits may reach 2^52 (4q ≥ 2^52); `q_wide`: q ≥ 2^52 (so may b_j, a_j).
TESSERA_IFMA TESSERA_INLINE void inner_product_ifma_body(int digits, const uint64_t *const *d,
                                                         const uint64_t *const *b, const uint64_t *const *a,
                                                         const int32_t *perm, size_t n, uint64_t *out0,
                                                         uint64_t *out1, uint64_t q, uint64_t q_inv,
                                                         const int d_wide, const int q_wide) {
    const ifma_modulus m = ifma_modulus_make(q, q_inv);
    for (size_t c = 0; c < n; c += 8) {
        const __mmask8 mask = n - c >= 8 ? 0xff : (__mmask8)((1u << (n - c)) - 1);
        __m256i idx = _mm256_setzero_si256();
        if (perm) idx = _mm512_castsi512_si256(_mm512_maskz_loadu_epi32((__mmask16)mask, perm + c));
        __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
        for (int j = 0; j < digits; j++) {
            __m512i x;
            // The gathered words are scattered: fetch those of four iterations ahead (+7 to 10% measured).
            if (perm && c + 40 <= n)
                for (int l = 32; l < 40; l++) _mm_prefetch((const char *)(d[j] + perm[c + l]), _MM_HINT_T0);
            if (perm)
                x = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), mask, idx, (const void *)d[j], 8);
            else
                x = _mm512_maskz_loadu_epi64(mask, d[j] + c);
            const __m512i vb = _mm512_maskz_loadu_epi64(mask, b[j] + c);
            const __m512i va = _mm512_maskz_loadu_epi64(mask, a[j] + c);
            const __m512i x_hi = _mm512_srli_epi64(x, 52);
            const __m512i vb_hi = _mm512_srli_epi64(vb, 52);
            const __m512i va_hi = _mm512_srli_epi64(va, 52);
            MUL_ACC(s00, s01, s02, x, x_hi, vb, vb_hi, d_wide, q_wide);
            MUL_ACC(s10, s11, s12, x, x_hi, va, va_hi, d_wide, q_wide);
            if ((j & 255) == 255) {
                NORMALIZE(s00, s01, s02);
                NORMALIZE(s10, s11, s12);
            }
        }
        _mm512_mask_storeu_epi64(out0 + c, mask, ifma_reduce(s00, s01, s02, &m, q_wide));
        _mm512_mask_storeu_epi64(out1 + c, mask, ifma_reduce(s10, s11, s12, &m, q_wide));
    }
}

TESSERA_IFMA static void inner_product_montgomery_ifma(int digits, const uint64_t *const *d,
                                                       const uint64_t *const *b, const uint64_t *const *a,
                                                       const int32_t *perm, size_t n, uint64_t *out0,
                                                       uint64_t *out1, uint64_t q, uint64_t q_inv) {
    if (q >> 52)
        inner_product_ifma_body(digits, d, b, a, perm, n, out0, out1, q, q_inv, 1, 1);
    else if (q >> 50)
        inner_product_ifma_body(digits, d, b, a, perm, n, out0, out1, q, q_inv, 1, 0);
    else
        inner_product_ifma_body(digits, d, b, a, perm, n, out0, out1, q, q_inv, 0, 0);
}

void tessera_convert_montgomery(const uint64_t *y, int k, size_t n, int targets, const uint64_t *rows,
                                uint64_t *const *out, const uint64_t *t, const uint64_t *t_inv) {
    if (use_ifma())
        convert_montgomery_ifma(y, k, n, targets, rows, out, t, t_inv);
    else
        convert_montgomery_portable(y, k, n, targets, rows, out, t, t_inv);
}

void tessera_inner_product_montgomery(int digits, const uint64_t *const *d, const uint64_t *const *b,
                                      const uint64_t *const *a, const int32_t *perm, size_t n, uint64_t *out0,
                                      uint64_t *out1, uint64_t q, uint64_t q_inv) {
    if (use_ifma())
        inner_product_montgomery_ifma(digits, d, b, a, perm, n, out0, out1, q, q_inv);
    else
        inner_product_montgomery_portable(digits, d, b, a, perm, n, out0, out1, q, q_inv);
}

#else

int tessera_ifma_available(void) { return 0; }

void tessera_convert_montgomery(const uint64_t *y, int k, size_t n, int targets, const uint64_t *rows,
                                uint64_t *const *out, const uint64_t *t, const uint64_t *t_inv) {
    convert_montgomery_portable(y, k, n, targets, rows, out, t, t_inv);
}

void tessera_inner_product_montgomery(int digits, const uint64_t *const *d, const uint64_t *const *b,
                                      const uint64_t *const *a, const int32_t *perm, size_t n, uint64_t *out0,
                                      uint64_t *out1, uint64_t q, uint64_t q_inv) {
    inner_product_montgomery_portable(digits, d, b, a, perm, n, out0, out1, q, q_inv);
}

#endif
