// The consumer's own gguf.hpp, first on its include path: tinyllm must never pick it up.
#pragma once
namespace consumer {
inline const char* gguf_header() { return "consumer gguf.hpp"; }
} // namespace consumer
