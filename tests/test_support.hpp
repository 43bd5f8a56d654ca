// Shared helpers for tests: where the reference data lives, reading files and JSON fields.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace test_support {

// ../shared by default (CMake TINYLLM_SHARED_DIR), overridable with $TINYLLM_SHARED_DIR.
inline std::string shared_dir() {
    if (const char* env = std::getenv("TINYLLM_SHARED_DIR")) return env;
    return TINYLLM_SHARED_DIR;
}

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

inline std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }

// Skips (with a message) when the reference file is missing; returns false then.
inline bool require_shared(const std::string& rel) {
    if (file_exists(shared_path(rel))) return true;
    MESSAGE("skipped: reference data not found: " << shared_path(rel) << " (set TINYLLM_SHARED_DIR)");
    return false;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Integer array field `"key": [1, 2, 3]` of a reference JSON file (flat arrays only).
inline std::vector<int> json_int_array(const std::string& json, const std::string& key) {
    std::vector<int> out;
    size_t k = json.find("\"" + key + "\"");
    if (k == std::string::npos) return out;
    size_t open = json.find('[', k), close = json.find(']', open);
    std::string body = json.substr(open + 1, close - open - 1);
    for (char& c : body)
        if (c == ',') c = ' ';
    std::istringstream in(body);
    int v;
    while (in >> v) out.push_back(v);
    return out;
}

inline std::vector<float> read_f32(const std::string& path) {
    std::vector<uint8_t> b = read_bytes(path);
    std::vector<float> out(b.size() / 4);
    std::memcpy(out.data(), b.data(), out.size() * 4);
    return out;
}

// Logits comparison as the fixtures README defines it: per prompt position,
// nrmse = rms(ours - ref) / rms(ref), and whether the argmax agrees.
struct Comparison {
    double max_nrmse = 0.0;
    int argmax_equal = 0;
};

inline std::string join(const std::vector<int>& ids) {
    std::string out;
    for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
    return out;
}

inline int argmax(const float* v, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

inline Comparison compare(const std::vector<float>& ours, const std::vector<float>& ref, int n_vocab) {
    Comparison c;
    for (size_t row = 0; row < ref.size() / size_t(n_vocab); ++row) {
        double err = 0.0, norm = 0.0;
        const float* a = ours.data() + row * n_vocab;
        const float* b = ref.data() + row * n_vocab;
        for (int i = 0; i < n_vocab; ++i) {
            err += double(a[i] - b[i]) * (a[i] - b[i]);
            norm += double(b[i]) * b[i];
        }
        c.max_nrmse = std::max(c.max_nrmse, std::sqrt(err / norm));
        c.argmax_equal += argmax(a, n_vocab) == argmax(b, n_vocab);
    }
    return c;
}

} // namespace test_support
