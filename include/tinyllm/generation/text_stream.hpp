// Generated text released as it becomes final: bytes that could still be the start of a stop
// string, or that end inside a UTF-8 character, are held back until the next token decides
// them. Memory from the caller's arena; no standard library.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tinyllm/base/arena.hpp"
#include "tinyllm/base/span.hpp"
#include "tinyllm/base/status.hpp"
#include "tinyllm/text/token_bytes.hpp"
#include "tinyllm/text/token_text.hpp"

namespace tinyllm {

class TextStream {
public:
    static size_t required_bytes(size_t max_token_bytes, size_t max_stop_bytes) { return max_token_bytes + max_stop_bytes + 64; }

    Status init(size_t max_token_bytes, size_t max_stop_bytes, Arena& arena) {
        capacity_ = max_token_bytes + max_stop_bytes + 4;
        max_stop_bytes_ = max_stop_bytes;
        buffer_ = static_cast<char*>(arena.allocate(capacity_, 1));
        if (!buffer_) return Status::fail(Error::out_of_memory, "text stream needs ", uint64_t(capacity_), " bytes");
        return Status{};
    }

    // Starts a new piece of text that ends at any of stops[0..n_stops).
    Status start(const StrView* stops, int n_stops) {
        for (int i = 0; i < n_stops; ++i) {
            if (stops[i].empty()) return Status::fail(Error::invalid_argument, "empty stop string");
            if (stops[i].size() > max_stop_bytes_)
                return Status::fail(Error::invalid_argument, "stop string of ", uint64_t(stops[i].size()), " bytes (at most ",
                                    uint64_t(max_stop_bytes_), ")");
        }
        stops_ = stops;
        n_stops_ = n_stops;
        held_ = 0;
        released_ = 0;
        return Status{};
    }

    // Appends one token's bytes; then release() holds what is final. Returns true when a stop
    // string is complete: the text before it is released and the rest dropped.
    bool push(const TokenText& vocabulary, int32_t id) {
        consume_release();
        held_ += vocabulary.bytes(id, buffer_ + held_, capacity_ - held_);
        size_t first = npos;  // the earliest stop string wins, whichever is listed first
        for (int s = 0; s < n_stops_; ++s) {
            const size_t at = find(stops_[s]);
            if (at < first) first = at;
        }
        if (first != npos) {
            held_ = first;
            released_ = held_;
            return true;
        }
        size_t keep = longest_stop_prefix_suffix();
        const size_t utf8 = text::incomplete_utf8_tail(buffer_, held_);
        if (utf8 > keep) keep = utf8;
        released_ = held_ - keep;
        return false;
    }

    // Everything held, at the end of the text.
    void finish() {
        consume_release();
        released_ = held_;
    }

    // The bytes final since the last push() or finish().
    StrView release() const { return StrView(buffer_, released_); }

private:
    static constexpr size_t npos = ~size_t(0);

    // Drops the bytes already released from the front of the buffer.
    void consume_release() {
        for (size_t i = released_; i < held_; ++i) buffer_[i - released_] = buffer_[i];
        held_ -= released_;
        released_ = 0;
    }

    size_t find(StrView stop) const {
        if (stop.size() > held_) return npos;
        for (size_t at = 0; at + stop.size() <= held_; ++at)
            if (StrView(buffer_ + at, stop.size()) == stop) return at;
        return npos;
    }

    // Length of the longest end of the held bytes that begins some stop string.
    size_t longest_stop_prefix_suffix() const {
        size_t best = 0;
        for (int s = 0; s < n_stops_; ++s) {
            const StrView stop = stops_[s];
            for (size_t len = stop.size() - 1; len > best; --len)
                if (len <= held_ && StrView(buffer_ + held_ - len, len) == StrView(stop.data(), len)) {
                    best = len;
                    break;
                }
        }
        return best;
    }

    char* buffer_ = nullptr;
    size_t capacity_ = 0, max_stop_bytes_ = 0;
    size_t held_ = 0, released_ = 0;
    const StrView* stops_ = nullptr;
    int n_stops_ = 0;
};

} // namespace tinyllm
