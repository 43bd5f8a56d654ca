// Output and exit for bare-metal Hexagon programs (see runtime.cpp).
#pragma once
#include <stddef.h>

namespace hexagon_rt {
void write_out(const char* s, size_t n);
void write_str(const char* s);
void write_int(long long v);
[[noreturn]] void exit(int status);
} // namespace hexagon_rt
