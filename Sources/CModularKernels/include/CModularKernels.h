// AVX-512 kernels for the hot loops of RNS arithmetic over 64-bit primes (q < 2^62). Every kernel computes
// exactly what the portable Swift loop in ModularArithmetic computes, word for word: callers pick either.
#ifndef TESSERA_C_MODULAR_KERNELS_H
#define TESSERA_C_MODULAR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the AVX-512 (F + DQ) kernels, 0 otherwise (then no other function may be called).
int tessera_kernels_available(void);

/// Forward negacyclic NTT (Cooley–Tukey, Harvey lazy butterflies) of n = 2^log_n words in place, log_n ≥ 5:
/// input < 4q, output in [0, 4q), bit-reversed order. `w` and `w_shoup` are the bit-reversed twiddles and their
/// Shoup companions (NTTTables.rootPowers).
void tessera_ntt_forward_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n);

/// Inverse negacyclic NTT (Gentleman–Sande) in place, log_n ≥ 5: input < 2q in bit-reversed order, output in
/// [0, 2q), scaled by n^-1 (`n_inv`) folded into the last stage together with its twiddle (`wn` = w[1]·n^-1).
void tessera_ntt_inverse_lazy(uint64_t *a, const uint64_t *w, const uint64_t *w_shoup, uint64_t q, int log_n,
                              uint64_t n_inv, uint64_t n_inv_shoup, uint64_t wn, uint64_t wn_shoup);

/// 1 when this CPU has AVX-512 IFMA (with F and DQ): the RNS kernels below then run vectorized; without it they
/// still work (and give the same words), running portable scalar loops.
int tessera_ifma_available(void);

/// dst[c] = (x[c] + offset − t[c]) · w mod q in [0, q) for c < n, or dst[c] + that mod q with `accumulate` (dst < q):
/// the last step of a rescale or ModDown. Needs x[c] + offset ≥ t[c] without overflow; w_shoup = ⌊w·2^64/q⌋;
/// q < 2^62. Requires tessera_kernels_available().
void tessera_scaled_difference(uint64_t *dst, const uint64_t *x, const uint64_t *t, size_t n, uint64_t offset,
                               uint64_t w, uint64_t w_shoup, uint64_t q, int accumulate);

/// out[c] = (c0 + Σ_{j<terms} x[j][c] · w[j]) mod q in [0, q) for c < n, with Shoup constants w_shoup[j]; any 64-bit
/// x[j][c]; c0 < q; q < 2^62. Requires tessera_kernels_available().
void tessera_linear_combination(uint64_t *out, const uint64_t *const *x, const uint64_t *w, const uint64_t *w_shoup,
                                int terms, uint64_t c0, size_t n, uint64_t q);

/// Fast basis conversion rows with a Montgomery reduction (BasisConverter.montgomeryRow for every target):
/// for each target j < `targets` and coefficient c < n,
///     out[j][c] = (Σ_{i<k} y[i·n + c] · rows[j·k + i]) · 2^-64 mod t[j], in [0, t[j]).
/// `y`: k rows of n words (row i below q_i, with Σ_i q_i < 2^64, so the sum stays below t[j] · 2^64);
/// `rows`: targets × k constants, row-major, each below t[j]; `t[j]`: odd, < 2^62; `t_inv[j]` = t[j]^-1 mod 2^64.
/// Any k ≥ 1 and n ≥ 0 (no multiple-of-8 or alignment requirement); k ≤ 8 keeps y in registers, all targets are
/// computed per pass over y. `out[j]` are n-word arrays that must not overlap `y` or each other.
void tessera_convert_montgomery(const uint64_t *y, int k, size_t n, int targets, const uint64_t *rows,
                                uint64_t *const *out, const uint64_t *t, const uint64_t *t_inv);

/// Key-switching inner product over one RNS limb with a Montgomery reduction (KeySwitcher.montgomeryInnerRow):
/// for c < n and s = perm[c] (or c when `perm` is NULL),
///     out0[c] = (Σ_{j<digits} d[j][s] · b[j][c]) · 2^-64 mod q,  out1[c] = (Σ_j d[j][s] · a[j][c]) · 2^-64 mod q,
/// both in [0, q). `d[j]`: n words below 4q; `b[j]`, `a[j]`: n words below q; each sum below 2q · 2^64.
/// `perm`: NULL or n indices in [0, n); q odd, < 2^61; q_inv = q^-1 mod 2^64. Any digits ≥ 1 and n ≥ 0 (no
/// multiple-of-8 or alignment requirement). `out0`, `out1` must not overlap the inputs or each other.
void tessera_inner_product_montgomery(int digits, const uint64_t *const *d, const uint64_t *const *b,
                                      const uint64_t *const *a, const int32_t *perm, size_t n, uint64_t *out0,
                                      uint64_t *out1, uint64_t q, uint64_t q_inv);

#ifdef __cplusplus
}
#endif

#endif
