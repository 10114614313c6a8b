#include <libpmem2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/// Copies `count` bytes with non-temporal (cache-bypassing) stores where the CPU has them (x86-64:
/// SSE2 movntdq, then sfence), a plain memcpy elsewhere. Used for deferred pool writes: libpmem2's
/// memcpy with PMEM2_F_MEM_NOFLUSH falls back to temporal stores, about half as fast for
/// megabyte-sized blobs, and without NOFLUSH it flushes (msync on ordinary files).
static inline void tessera_stream_copy(void *destination, const void *source, size_t count) {
#if defined(__x86_64__)
    char *d = (char *)destination;
    const char *s = (const char *)source;
    size_t head = (16 - ((uintptr_t)d & 15)) & 15;
    if (head > count) head = count;
    memcpy(d, s, head);
    d += head; s += head; count -= head;
    while (count >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_stream_si128((__m128i *)d, a);
        _mm_stream_si128((__m128i *)(d + 16), b);
        _mm_stream_si128((__m128i *)(d + 32), c);
        _mm_stream_si128((__m128i *)(d + 48), e);
        d += 64; s += 64; count -= 64;
    }
    while (count >= 16) {
        _mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
        d += 16; s += 16; count -= 16;
    }
    memcpy(d, s, count);
    _mm_sfence();
#else
    memcpy(destination, source, count);
#endif
}
