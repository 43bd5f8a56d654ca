// A minimal bare-metal runtime for Hexagon programs run under qemu-hexagon (Linux user mode):
// entry point, write/exit through trap0 system calls, and the memory and arithmetic helpers
// the compiler expects from a C library / compiler-rt, none of which exist on this target.
#include <stddef.h>
#include <stdint.h>

#include "runtime.hpp"

namespace hexagon_rt {

long syscall3(long number, long a, long b, long c) {
    register long r0 asm("r0") = a;
    register long r1 asm("r1") = b;
    register long r2 asm("r2") = c;
    register long r6 asm("r6") = number;
    asm volatile("trap0(#1)" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r6) : "memory");
    return r0;
}

void write_out(const char* s, size_t n) { syscall3(64, 1, long(s), long(n)); }

void write_str(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    write_out(s, n);
}

void write_int(long long v) {
    char buf[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do { buf[n++] = char('0' + u % 10); u /= 10; } while (u);
    if (v < 0) buf[n++] = '-';
    for (int i = 0; i < n / 2; ++i) {
        char t = buf[i];
        buf[i] = buf[n - 1 - i];
        buf[n - 1 - i] = t;
    }
    write_out(buf, size_t(n));
}

[[noreturn]] void exit(int status) {
    syscall3(93, status, 0, 0);
    for (;;) {}
}

} // namespace hexagon_rt

extern "C" {

int main();

[[noreturn]] void _start() { hexagon_rt::exit(main()); }

void* memcpy(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
    return dst;
}
void* __hexagon_memcpy_likely_aligned_min32bytes_mult8bytes(void* dst, const void* src, size_t n) { return memcpy(dst, src, n); }
void* memset(void* dst, int c, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = (unsigned char)c;
    return dst;
}
int memcmp(const void* a, const void* b, size_t n) {
    auto* x = static_cast<const unsigned char*>(a);
    auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

// Integer division: shift-and-subtract (the core divides rarely, outside inner loops).
unsigned long long __hexagon_udivmoddi4(unsigned long long n, unsigned long long d, unsigned long long* rem) {
    unsigned long long q = 0, r = 0;
    for (int i = 63; i >= 0; --i) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << i;
        }
    }
    if (rem) *rem = r;
    return q;
}
unsigned long long __hexagon_udivdi3(unsigned long long n, unsigned long long d) { return __hexagon_udivmoddi4(n, d, nullptr); }
unsigned long long __hexagon_umoddi3(unsigned long long n, unsigned long long d) {
    unsigned long long r;
    __hexagon_udivmoddi4(n, d, &r);
    return r;
}
long long __hexagon_divdi3(long long n, long long d) {
    unsigned long long q = __hexagon_udivdi3(n < 0 ? 0ull - n : n, d < 0 ? 0ull - d : d);
    return (n < 0) != (d < 0) ? -(long long)q : (long long)q;
}
long long __hexagon_moddi3(long long n, long long d) {
    unsigned long long r = __hexagon_umoddi3(n < 0 ? 0ull - n : n, d < 0 ? 0ull - d : d);
    return n < 0 ? -(long long)r : (long long)r;
}
unsigned __hexagon_udivsi3(unsigned n, unsigned d) { return unsigned(__hexagon_udivdi3(n, d)); }
unsigned __hexagon_umodsi3(unsigned n, unsigned d) { return unsigned(__hexagon_umoddi3(n, d)); }
int __hexagon_divsi3(int n, int d) { return int(__hexagon_divdi3(n, d)); }
int __hexagon_modsi3(int n, int d) { return int(__hexagon_moddi3(n, d)); }

// Double division, correctly rounded (round to nearest even) by long division of the
// significands; float division rounds the exact double quotient, which is also correct.
double __hexagon_divdf3(double a, double b) {
    uint64_t ua = __builtin_bit_cast(uint64_t, a), ub = __builtin_bit_cast(uint64_t, b);
    const uint64_t sign = (ua ^ ub) & (1ull << 63);
    int ea = int((ua >> 52) & 0x7ff), eb = int((ub >> 52) & 0x7ff);
    uint64_t ma = ua & ((1ull << 52) - 1), mb = ub & ((1ull << 52) - 1);
    const double inf = __builtin_bit_cast(double, sign | (0x7ffull << 52));
    if (ea == 0x7ff || eb == 0x7ff) {
        if ((ea == 0x7ff && ma) || (eb == 0x7ff && mb) || (ea == 0x7ff && eb == 0x7ff)) return __builtin_nan("");
        return ea == 0x7ff ? inf : __builtin_bit_cast(double, sign);
    }
    if (eb == 0 && mb == 0) return (ea == 0 && ma == 0) ? __builtin_nan("") : inf;
    if (ea == 0 && ma == 0) return __builtin_bit_cast(double, sign);
    // Normalize (subnormals get an explicit exponent below 1).
    if (ea == 0) { ea = 1; while (!(ma & (1ull << 52))) { ma <<= 1; --ea; } } else ma |= 1ull << 52;
    if (eb == 0) { eb = 1; while (!(mb & (1ull << 52))) { mb <<= 1; --eb; } } else mb |= 1ull << 52;
    int e = ea - eb + 1023;
    if (ma < mb) { ma <<= 1; --e; }
    // 54 quotient bits (53 + a guard bit) and the remainder for the sticky bit.
    uint64_t q = 0, r = ma;
    for (int i = 0; i < 54; ++i) {
        q <<= 1;
        if (r >= mb) { r -= mb; q |= 1; }
        r <<= 1;
    }
    const bool sticky = r != 0;
    if (e <= 0) {  // subnormal result: shift right, keeping the sticky bits
        int shift = 1 - e;
        bool lost = shift >= 64 ? q != 0 : (q & ((1ull << shift) - 1)) != 0;
        q = shift >= 64 ? 0 : q >> shift;
        e = 0;
        if (lost) q |= 1;  // fold into the guard position's sticky information
    }
    const bool guard = q & 1;
    q >>= 1;
    if (guard && (sticky || (q & 1))) ++q;  // round to nearest, ties to even
    if (q >> 53) { q >>= 1; ++e; }
    if (e >= 0x7ff) return inf;
    if (e == 0 && (q >> 52)) e = 1;  // rounded up into the normal range
    return __builtin_bit_cast(double, sign | (uint64_t(e) << 52) | (q & ((1ull << 52) - 1)));
}
float __hexagon_divsf3(float a, float b) { return float(__hexagon_divdf3(a, b)); }

}  // extern "C"
