// AVX-512 kernels for the hot loops of RNS arithmetic over 64-bit primes (q < 2^62). Every kernel computes
// exactly what the portable Swift loop in ModularArithmetic computes, word for word: callers pick either.
#ifndef TESSERA_C_MODULAR_KERNELS_H
#define TESSERA_C_MODULAR_KERNELS_H

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

#ifdef __cplusplus
}
#endif

#endif
