// Modular arithmetic: moduli, reductions, primes, NTT.
