// A GGUF vocabulary as a Hugging Face tokenizer.json, and back: what lets a .pte program carry
// its tokenizer without the GGUF file beside it.
//
// SentencePiece vocabularies ("llama") are written as Hugging Face writes Llama 2's: a BPE model
// with byte fallback, the space prefix as a normalizer, and merges derived from the scores (every
// split of a token into two tokens, the highest-scoring result first), so merging by rank picks
// the pairs merging by score picks. Byte-level BPE vocabularies ("gpt2") keep their merges, and
// the pre-tokenizer name becomes its regexes (Split, then ByteLevel). Control, user-defined and
// unknown tokens are the added tokens; BOS and EOS added to every text go in the post-processor.
// Merges are written as [left, right] pairs, and only parts ExecuTorch's tokenizer library reads
// are used (no Strip decoder, a pre-tokenizer always present), so its runner loads the file too.
//
// Reading turns such a file back into the tokenizer.ggml.* keys of an in-memory GGUF, which the
// Tokenizer reads as it reads any GGUF: one tokenizer implementation, whatever the file. Scores
// are recovered as the negated rank of the first merge that makes each token, so merges keep their
// order; the token types come from the added tokens and the byte pieces.
#pragma once
#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinyllm/loaders/formats/gguf.hpp"
#include "tinyllm/loaders/host/gguf_writer.hpp"
#include "tinyllm/loaders/host/json.hpp"
#include "tinyllm/text/bpe.hpp"
#include "tinyllm/text/token_bytes.hpp"

namespace tinyllm {

namespace tokenizer_json {

// The regex a pre-tokenizer pattern is written as (Hugging Face's spelling where its tokenizers
// use the same pattern, e.g. (?i:...) for Llama 3's case-insensitive contractions).
inline const char* pattern_regex(bpe::Pattern p) {
    using P = bpe::Pattern;
    switch (p) {
    case P::gpt2: return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    case P::llama3:
        return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    case P::qwen2:
        return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    case P::punctuation: return "[\\p{P}\\$\\+<=>\\^~\\|]+";
    case P::punctuation_backtick: return "[\\p{P}\\$\\+<=>\\^~\\|`]+";
    case P::digit_triple: return "[0-9][0-9][0-9]";
    case P::number: return "\\p{N}";
    case P::numbers: return "\\p{N}+";
    default: return nullptr;  // deepseek's patterns: no tokenizer.json form here
    }
}

// The first tokenizer.ggml.pre name tinyllm knows with this pattern list, or "".
inline std::string pre_name_of(const std::vector<bpe::Pattern>& patterns) {
    for (const char* name : {"gpt-2", "llama3", "qwen2", "default", "starcoder", "falcon"})
        if (bpe::pretokenizer_patterns(name) == patterns) return name;
    return "";
}

inline const char* space_piece = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Splits s into UTF-8 characters' byte offsets (invalid bytes count as one character each).
inline std::vector<size_t> char_starts(const std::string& s) {
    std::vector<size_t> starts;
    for (size_t i = 0; i < s.size();) {
        starts.push_back(i);
        const size_t n = unicode::utf8_sequence_length(s, i);
        i += n ? n : 1;
    }
    return starts;
}

struct Vocabulary {
    bool spm = true;
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<int32_t> types;
    std::vector<std::pair<std::string, std::string>> merges;  // (left, right)
    std::string pre;
    int32_t bos = -1, eos = -1;
    bool add_bos = false, add_eos = false, add_space_prefix = true;
};

inline Status read_gguf(const gguf::File& f, Vocabulary& v) {
    Result<StrView> model = f.get_string("tokenizer.ggml.model");
    if (!model) return model.status;
    if (*model != StrView("llama") && *model != StrView("gpt2"))
        return Status::fail(Error::unsupported_type, "tokenizer model '", *model, "' has no tokenizer.json form here (llama and gpt2 do)");
    v.spm = *model == StrView("llama");
    Result<gguf::Array> tokens = f.get_array("tokenizer.ggml.tokens");
    if (!tokens) return tokens.status;
    if (tokens->type != gguf::ValueType::string || tokens->count == 0 || tokens->count > (1u << 24))
        return Status::fail(Error::wrong_key_type, "tokenizer.ggml.tokens must be a non-empty string array");
    const size_t n = size_t(tokens->count);
    auto cursor = tokens->strings();
    for (size_t i = 0; i < n; ++i) {
        StrView s = cursor.next();
        v.pieces.emplace_back(s.data(), s.size());
    }
    v.scores.assign(n, 0.0f);
    if (Result<gguf::Array> scores = f.get_array("tokenizer.ggml.scores"); scores && scores->type == gguf::ValueType::f32 && scores->count == n)
        for (size_t i = 0; i < n; ++i) v.scores[i] = scores->f32_at(i);
    v.types.assign(n, text::normal);
    if (Result<gguf::Array> types = f.get_array("tokenizer.ggml.token_type"); types && types->type == gguf::ValueType::i32 && types->count == n)
        for (size_t i = 0; i < n; ++i) v.types[i] = int32_t(types->int_at(i));
    auto id_or = [&](const char* key, int32_t fallback) {
        Result<int64_t> x = f.get_int(cstr(key));
        return x && *x >= 0 && uint64_t(*x) < n ? int32_t(*x) : fallback;
    };
    auto flag_or = [&](const char* key, bool fallback) {
        Result<int64_t> x = f.get_int(cstr(key));
        return x ? *x != 0 : fallback;
    };
    v.bos = id_or("tokenizer.ggml.bos_token_id", v.spm && n > 1 ? 1 : -1);
    v.eos = id_or("tokenizer.ggml.eos_token_id", v.spm && n > 2 ? 2 : -1);
    v.add_bos = flag_or("tokenizer.ggml.add_bos_token", v.spm) && v.bos >= 0;
    v.add_eos = flag_or("tokenizer.ggml.add_eos_token", false) && v.eos >= 0;
    v.add_space_prefix = flag_or("tokenizer.ggml.add_space_prefix", v.spm);
    if (!v.spm) {
        Result<gguf::Array> merges = f.get_array("tokenizer.ggml.merges");
        if (!merges) return merges.status;
        if (merges->type != gguf::ValueType::string) return Status::fail(Error::wrong_key_type, "tokenizer.ggml.merges must be a string array");
        auto m = merges->strings();
        for (uint64_t i = 0; i < merges->count; ++i) {
            const StrView s = m.next();
            const std::string merge(s.data(), s.size());
            const size_t space = merge.find(' ');
            if (space == std::string::npos) return Status::fail(Error::corrupt, "merge ", i, " has no space between its pieces");
            v.merges.push_back({merge.substr(0, space), merge.substr(space + 1)});
        }
        Result<StrView> pre = f.get_string("tokenizer.ggml.pre");
        v.pre = pre ? std::string(pre->data(), pre->size()) : "default";
    }
    return Status();
}

// SentencePiece scores as merges: every (left, right) of two tokens whose concatenation is a
// normal token, ordered by that token's score (highest first; ties by id, then split).
inline std::vector<std::pair<std::string, std::string>> merges_from_scores(const Vocabulary& v) {
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < v.pieces.size(); ++i) ids.emplace(v.pieces[i], int32_t(i));
    struct Merge {
        int32_t token;
        size_t split;
    };
    std::vector<Merge> found;
    for (size_t t = 0; t < v.pieces.size(); ++t) {
        if (v.types[t] != text::normal) continue;
        const std::string& p = v.pieces[t];
        const std::vector<size_t> starts = char_starts(p);
        for (size_t k = 1; k < starts.size(); ++k)
            if (ids.count(p.substr(0, starts[k])) && ids.count(p.substr(starts[k]))) found.push_back({int32_t(t), starts[k]});
    }
    std::stable_sort(found.begin(), found.end(), [&](const Merge& a, const Merge& b) {
        return v.scores[size_t(a.token)] > v.scores[size_t(b.token)] || (v.scores[size_t(a.token)] == v.scores[size_t(b.token)] && a.token < b.token);
    });
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(found.size());
    for (const Merge& m : found) {
        const std::string& p = v.pieces[size_t(m.token)];
        merges.push_back({p.substr(0, m.split), p.substr(m.split)});
    }
    return merges;
}

// out += "key": followed by a JSON string.
inline bool add_member(std::string& out, const char* key, const std::string& value) {
    append_json_string(out, key);
    out += ':';
    return append_json_string(out, value);
}

// TemplateProcessing adding BOS before and/or EOS after each sequence.
inline void add_post_processor(std::string& out, const Vocabulary& v) {
    if (!v.add_bos && !v.add_eos) {
        out += "null";
        return;
    }
    auto sequence = [&](const char* name, int type_id) {
        std::string s;
        auto special = [&](int32_t id) {
            s += "{\"SpecialToken\":{";
            add_member(s, "id", v.pieces[size_t(id)]);
            s += ",\"type_id\":" + std::to_string(type_id) + "}},";
        };
        if (v.add_bos) special(v.bos);
        s += std::string("{\"Sequence\":{\"id\":\"") + name + "\",\"type_id\":" + std::to_string(type_id) + "}},";
        if (v.add_eos) special(v.eos);
        s.pop_back();
        return s;
    };
    out += "{\"type\":\"TemplateProcessing\",\"single\":[" + sequence("A", 0) + "],\"pair\":[" + sequence("A", 0) + "," + sequence("B", 1) +
           "],\"special_tokens\":{";
    bool first = true;
    for (int32_t id : {v.add_bos ? v.bos : -1, v.add_eos && v.eos != v.bos ? v.eos : -1}) {
        if (id < 0) continue;
        if (!first) out += ',';
        first = false;
        append_json_string(out, v.pieces[size_t(id)]);
        out += ":{";
        add_member(out, "id", v.pieces[size_t(id)]);
        out += ",\"ids\":[" + std::to_string(id) + "],\"tokens\":[";
        append_json_string(out, v.pieces[size_t(id)]);
        out += "]}";
    }
    out += "}}";
}

} // namespace tokenizer_json

// The vocabulary of GGUF file `f` as a tokenizer.json document.
inline Status write_tokenizer_json(const gguf::File& f, std::string& out) {
    using namespace tokenizer_json;
    Vocabulary v;
    if (Status st = read_gguf(f, v); !st) return st;
    std::vector<bpe::Pattern> patterns;
    if (!v.spm) {
        patterns = bpe::pretokenizer_patterns(v.pre);
        if (patterns.empty()) return Status::fail(Error::unsupported_type, "pre-tokenizer '", cstr(v.pre.c_str()), "' is unknown");
        for (bpe::Pattern p : patterns)
            if (!pattern_regex(p)) return Status::fail(Error::unsupported_type, "pre-tokenizer '", cstr(v.pre.c_str()), "' has no tokenizer.json form here");
    }
    const std::vector<std::pair<std::string, std::string>> merges = v.spm ? merges_from_scores(v) : v.merges;
    int32_t unk = -1;
    for (size_t i = 0; i < v.types.size() && unk < 0; ++i)
        if (v.types[i] == text::unknown) unk = int32_t(i);

    out.clear();
    out += "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[";
    bool first = true;
    for (size_t i = 0; i < v.pieces.size(); ++i) {
        const int32_t t = v.types[i];
        if (t != text::control && t != text::user_defined && t != text::unknown) continue;
        out += first ? "\n{" : ",\n{";
        first = false;
        out += "\"id\":" + std::to_string(i) + ",";
        if (!add_member(out, "content", v.pieces[i])) return Status::fail(Error::bad_string, "token ", uint64_t(i), " is not UTF-8 text");
        out += ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":";
        out += t == text::user_defined ? "false}" : "true}";
    }
    out += "],\n";
    if (v.spm) {
        // Legacy Llama: "▁" before the text and for every space; decoding undoes both.
        out += "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[";
        if (v.add_space_prefix) out += std::string("{\"type\":\"Prepend\",\"prepend\":\"") + space_piece + "\"},";
        out += std::string("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"") + space_piece + "\"}]},\n";
        // A split at spaces, of which none are left: no change, but ExecuTorch's tokenizer
        // library needs a pre-tokenizer, and it has no Strip decoder (decoded text keeps the
        // prefix space, as token-by-token decoding does).
        out += "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithPrevious\",\"invert\":false},\n";
        out += "\"post_processor\":";
        add_post_processor(out, v);
        out += std::string(",\n\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"") + space_piece +
               "\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]},\n";
    } else {
        // GPT-2's own pattern is ByteLevel's built-in regex; other lists are Splits, then the
        // byte mapping.
        const bool gpt2 = patterns.size() == 1 && patterns[0] == bpe::Pattern::gpt2;
        out += "\"normalizer\":null,\n\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[";
        for (size_t k = 0; k < patterns.size() && !gpt2; ++k) {
            out += "{\"type\":\"Split\",\"pattern\":{\"Regex\":";
            append_json_string(out, pattern_regex(patterns[k]));
            out += "},\"behavior\":\"Isolated\",\"invert\":false},";
        }
        out += std::string("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":") + (gpt2 ? "true" : "false") +
               "}]},\n\"post_processor\":";
        add_post_processor(out, v);
        out += ",\n\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},\n";
    }
    out += "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":";
    if (unk >= 0) append_json_string(out, v.pieces[size_t(unk)]);
    else out += "null";
    out += ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":";
    out += v.spm ? "true,\"byte_fallback\":true" : "false,\"byte_fallback\":false";
    out += ",\"ignore_merges\":";
    out += !v.spm && patterns.size() == 1 && patterns[0] == bpe::Pattern::llama3 ? "true" : "false";
    out += ",\n\"vocab\":{";
    for (size_t i = 0; i < v.pieces.size(); ++i) {
        out += i ? ",\n" : "\n";
        if (!append_json_string(out, v.pieces[i])) return Status::fail(Error::bad_string, "token ", uint64_t(i), " is not UTF-8 text");
        out += ":" + std::to_string(i);
    }
    out += "},\n\"merges\":[";
    for (size_t i = 0; i < merges.size(); ++i) {
        out += i ? ",\n[" : "\n[";
        if (!append_json_string(out, merges[i].first) || !(out += ',', append_json_string(out, merges[i].second)))
            return Status::fail(Error::bad_string, "merge ", uint64_t(i), " is not UTF-8 text");
        out += ']';
    }
    out += "]}}\n";
    return Status();
}

// A tokenizer.json document as an in-memory GGUF with the tokenizer.ggml.* keys the Tokenizer
// reads. bos/eos: the ids the model declares (a .pte program's get_bos_id / get_eos_ids), -1 if
// none; the file's post-processor decides whether BOS is added.
inline Status tokenizer_json_to_gguf(const std::string& text, int32_t bos, int32_t eos, std::vector<uint8_t>& gguf_bytes) {
    using Value = JsonValue;
    Value doc;
    if (Status st = parse_json(text, doc); !st) return st;
    const Value* model = doc.get("model");
    if (!model || !model->is(Value::Kind::object)) return Status::fail(Error::missing_key, "tokenizer.json: no model");
    const std::string type = model->string_or("type", "");
    if (type != "BPE") return Status::fail(Error::unsupported_type, "tokenizer.json: model type '", cstr(type.c_str()), "' (BPE is read)");
    const bool spm = model->bool_or("byte_fallback", false);
    const Value* vocab = model->get("vocab");
    if (!vocab || !vocab->is(Value::Kind::object)) return Status::fail(Error::missing_key, "tokenizer.json: model has no vocab object");

    // Pieces by id, from the vocabulary and the added tokens; every id up to the largest must have one.
    std::map<int64_t, std::string> by_id;
    auto add_piece = [&](const std::string& piece, const Value& id) {
        if (!id.is(Value::Kind::number) || id.number < 0 || id.number >= double(1 << 24) || id.number != double(int64_t(id.number)))
            return Status::fail(Error::token_out_of_range, "tokenizer.json: token '", cstr(piece.c_str()), "' has no valid id");
        const auto [at, inserted] = by_id.emplace(int64_t(id.number), piece);
        if (!inserted && at->second != piece) return Status::fail(Error::corrupt, "tokenizer.json: id ", int64_t(id.number), " names two tokens");
        return Status();
    };
    for (size_t i = 0; i < vocab->keys.size(); ++i)
        if (Status st = add_piece(vocab->keys[i], vocab->items[i]); !st) return st;
    std::vector<const Value*> added;
    if (const Value* list = doc.get("added_tokens"); list && list->is(Value::Kind::array))
        for (const Value& a : list->items) {
            const Value* id = a.get("id");
            const Value* content = a.get("content");
            if (!id || !content || !content->is(Value::Kind::string)) return Status::fail(Error::corrupt, "tokenizer.json: an added token lacks id or content");
            if (Status st = add_piece(content->text, *id); !st) return st;
            added.push_back(&a);
        }
    if (by_id.empty()) return Status::fail(Error::missing_key, "tokenizer.json: empty vocabulary");
    const size_t n = size_t(by_id.rbegin()->first) + 1;
    if (by_id.size() != n) return Status::fail(Error::corrupt, "tokenizer.json: ", uint64_t(n - by_id.size()), " of ", uint64_t(n), " ids have no token");
    std::vector<std::string> pieces;
    pieces.reserve(n);
    for (auto& [id, piece] : by_id) pieces.push_back(std::move(piece));
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < n; ++i) ids.emplace(pieces[i], int32_t(i));

    std::vector<int32_t> types(n, text::normal);
    for (size_t i = 0; i < n && spm; ++i)
        if (pieces[i].size() == 6 && pieces[i].compare(0, 3, "<0x") == 0 && pieces[i][5] == '>') types[i] = text::byte;
    for (const Value* a : added) types[size_t(a->get("id")->number)] = a->bool_or("special", false) ? text::control : text::user_defined;
    if (const Value* unk = model->get("unk_token"); unk && unk->is(Value::Kind::string))
        if (auto it = ids.find(unk->text); it != ids.end()) types[size_t(it->second)] = text::unknown;

    std::vector<std::string> merges;
    if (const Value* list = model->get("merges"); list && list->is(Value::Kind::array))
        for (const Value& m : list->items) {
            if (m.is(Value::Kind::string)) merges.push_back(m.text);
            else if (m.is(Value::Kind::array) && m.items.size() == 2 && m.items[0].is(Value::Kind::string) && m.items[1].is(Value::Kind::string))
                merges.push_back(m.items[0].text + " " + m.items[1].text);
            else return Status::fail(Error::corrupt, "tokenizer.json: a merge is neither \"a b\" nor [\"a\", \"b\"]");
        }

    // BOS/EOS the post-processor adds (TemplateProcessing around $A).
    bool add_bos = false, add_eos = false;
    if (const Value* post = doc.get("post_processor"); post && post->is(Value::Kind::object)) {
        std::vector<const Value*> processors{post};
        if (const Value* list = post->get("processors"); list && list->is(Value::Kind::array))
            for (const Value& p : list->items) processors.push_back(&p);
        for (const Value* p : processors) {
            const Value* single = p->get("single");
            if (p->string_or("type", "") != "TemplateProcessing" || !single || !single->is(Value::Kind::array)) continue;
            bool seen_sequence = false;
            for (const Value& item : single->items) {
                if (item.get("Sequence")) {
                    seen_sequence = true;
                    continue;
                }
                const Value* special = item.get("SpecialToken");
                const std::string name = special ? special->string_or("id", "") : "";
                const auto it = ids.find(name);
                if (it == ids.end()) continue;
                if (!seen_sequence) {
                    add_bos = true;
                    if (bos < 0) bos = it->second;
                } else {
                    add_eos = true;
                    if (eos < 0) eos = it->second;
                }
            }
        }
    }

    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", spm ? "llama" : "gpt2");
    w.add_string_array("tokenizer.ggml.tokens", pieces);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    if (bos >= 0) w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(bos));
    if (eos >= 0) w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(eos));
    w.add_bool("tokenizer.ggml.add_bos_token", add_bos);
    w.add_bool("tokenizer.ggml.add_eos_token", add_eos);
    if (spm) {
        // Merged tokens score by their first merge's rank (earlier is higher); others lowest.
        std::vector<float> scores(n, -float(merges.size() + 1));
        for (size_t r = merges.size(); r-- > 0;) {
            std::string joined = merges[r];
            const size_t space = joined.find(' ');
            if (space == std::string::npos) return Status::fail(Error::corrupt, "tokenizer.json: merge '", cstr(joined.c_str()), "' has no space");
            joined.erase(space, 1);
            if (auto it = ids.find(joined); it != ids.end()) scores[size_t(it->second)] = -float(r);
        }
        w.add_f32_array("tokenizer.ggml.scores", scores);
        bool prefix = false;
        if (const Value* norm = doc.get("normalizer"); norm && norm->is(Value::Kind::object)) {
            std::vector<const Value*> steps{norm};
            if (const Value* list = norm->get("normalizers"); list && list->is(Value::Kind::array))
                for (const Value& s : list->items) steps.push_back(&s);
            for (const Value* s : steps) prefix |= s->string_or("type", "") == "Prepend" && s->string_or("prepend", "") == tokenizer_json::space_piece;
        }
        if (const Value* pre = doc.get("pre_tokenizer"); pre && pre->is(Value::Kind::object) && pre->string_or("type", "") == "Metaspace")
            prefix |= pre->string_or("prepend_scheme", "always") != "never";
        w.add_bool("tokenizer.ggml.add_space_prefix", prefix);
    } else {
        w.add_string_array("tokenizer.ggml.merges", merges);
        // The pre-tokenizer: its Split regexes (or ByteLevel's own, GPT-2's), as a known name.
        std::vector<bpe::Pattern> patterns;
        const Value* pre = doc.get("pre_tokenizer");
        std::vector<const Value*> steps;
        if (pre && pre->is(Value::Kind::object)) {
            steps.push_back(pre);
            if (const Value* list = pre->get("pretokenizers"); list && list->is(Value::Kind::array))
                for (const Value& s : list->items) steps.push_back(&s);
        }
        for (const Value* s : steps) {
            const std::string kind = s->string_or("type", "");
            if (kind == "ByteLevel" && s->bool_or("use_regex", true)) patterns.push_back(bpe::Pattern::gpt2);
            if (kind != "Split") continue;
            const Value* pattern = s->get("pattern");
            std::string regex = pattern ? pattern->string_or("Regex", "") : "";
            bool known = false;
            if (regex + "|\\s+" == tokenizer_json::pattern_regex(bpe::Pattern::gpt2)) regex += "|\\s+";  // the same matches
            for (bpe::Pattern p : {bpe::Pattern::gpt2, bpe::Pattern::llama3, bpe::Pattern::qwen2, bpe::Pattern::punctuation,
                                   bpe::Pattern::punctuation_backtick, bpe::Pattern::digit_triple, bpe::Pattern::number, bpe::Pattern::numbers})
                if (regex == tokenizer_json::pattern_regex(p)) {
                    patterns.push_back(p);
                    known = true;
                }
            if (!known) return Status::fail(Error::unsupported_type, "tokenizer.json: pre-tokenizer regex '", cstr(regex.c_str()), "' is not one tinyllm scans");
        }
        const std::string name = tokenizer_json::pre_name_of(patterns);
        if (name.empty()) return Status::fail(Error::unsupported_type, "tokenizer.json: this sequence of pre-tokenizer regexes is not one tinyllm scans");
        w.add_string("tokenizer.ggml.pre", name);
    }
    gguf_bytes = w.bytes();
    return Status();
}

} // namespace tinyllm
