// Which vector extensions this CPU and its operating system support, read once: on x86 with
// cpuid/xgetbv, on AArch64 Linux from the kernel's hardware capability bits. Kernels are
// compiled per function with target attributes; dispatch asks here.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdint.h>

namespace tinyllm::x86 {

struct CpuFeatures {
    bool avx2 = false;         // with FMA and F16C: the baseline of every x86 SIMD kernel
    bool avx512 = false;       // F, BW and VL
    bool avx512_vnni = false;  // vpdpbusd, on top of avx512

    static CpuFeatures detect() {
        CpuFeatures f;
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
        const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
        if (!osxsave || !avx) return f;
        unsigned xcr0_lo, xcr0_hi;
        __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
        // The OS saves the YMM state (bits 1-2) and, for AVX-512, the opmask and ZMM state (5-7).
        if ((xcr0_lo & 0x6u) != 0x6u || __get_cpuid_max(0, nullptr) < 7) return f;
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = fma && f16c && (b & (1u << 5));
        f.avx512 = f.avx2 && (xcr0_lo & 0xe6u) == 0xe6u && (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31));
        f.avx512_vnni = f.avx512 && (c & (1u << 11));
        return f;
    }
};

inline const CpuFeatures& cpu_features() {
    static const CpuFeatures features = CpuFeatures::detect();
    return features;
}

inline bool has_avx2() { return cpu_features().avx2; }
inline bool has_avx512() { return cpu_features().avx512; }
// AVX-512 VNNI (vpdpbusd): one instruction per 4-way int8 dot per lane. The interleaved
// kernels' 512-bit shapes also use F, BW and VL, which every CPU with VNNI has.
inline bool has_avx512_vnni() { return cpu_features().avx512_vnni; }

} // namespace tinyllm::x86
#endif

#if defined(__aarch64__)
namespace tinyllm::arm {

#if defined(__linux__)
// The C library's getauxval (<sys/auxv.h>), under another C++ name so that the kernels need no
// C library header and the two declarations never meet (glibc's is noexcept, musl's is not).
unsigned long auxiliary_vector_entry(unsigned long type) __asm__("getauxval");
#endif

struct CpuFeatures {
    bool dotprod = false;  // sdot/udot (Armv8.2 dot product: Cortex-A76 / Pi 5 and later)
    bool i8mm = false;     // smmla (int8 matrix multiply: Cortex-A710/X2, Neoverse V1/N2, Apple M2)

    // Linux asks the kernel even when this file was compiled for a dotprod core: another
    // translation unit of the same program may have been compiled for any core, and the
    // answer is shared. Without an operating system, the build's target decides.
    static CpuFeatures detect() {
        CpuFeatures f;
#if defined(__linux__)
        constexpr unsigned long at_hwcap = 16, hwcap_asimddp = 1ul << 20, at_hwcap2 = 26, hwcap2_i8mm = 1ul << 13;
        f.dotprod = (auxiliary_vector_entry(at_hwcap) & hwcap_asimddp) != 0;
        f.i8mm = (auxiliary_vector_entry(at_hwcap2) & hwcap2_i8mm) != 0;
#else
#if defined(__ARM_FEATURE_DOTPROD)
        f.dotprod = true;
#endif
#if defined(__ARM_FEATURE_MATMUL_INT8)
        f.i8mm = true;
#endif
#endif
        return f;
    }
};

inline const CpuFeatures& cpu_features() {
    static const CpuFeatures features = CpuFeatures::detect();
    return features;
}

inline bool has_dotprod() { return cpu_features().dotprod; }
inline bool has_i8mm() { return cpu_features().i8mm; }

} // namespace tinyllm::arm
#endif
