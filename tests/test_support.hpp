// Shared helpers for tests: where the reference data lives, reading files and JSON fields.
#pragma once
#include <cstdio>
#include <cstdlib>
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

} // namespace test_support
