// Reinterpreting bytes without <string.h>: kernels stay freestanding (stdint/stddef only).
#pragma once

namespace tinyllm {

template <class To, class From>
inline To bit_cast(const From& from) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast needs equal sizes");
    To to;
    __builtin_memcpy(&to, &from, sizeof(To));
    return to;
}

} // namespace tinyllm
