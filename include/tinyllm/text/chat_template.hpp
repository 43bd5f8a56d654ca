// Chat prompt formats (host-side), producing the same text as llama.cpp's built-in templates.
// A template is recognised from the model's Jinja `tokenizer.chat_template` by the markers it
// contains, or chosen by name.
#pragma once
#include <string>
#include <vector>

#include "tinyllm/base/status.hpp"

namespace tinyllm {

enum class ChatTemplate { llama2, llama2_sys, llama3, chatml, gemma, phi3, falcon3 };

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

// By name: llama2, llama2-sys, llama3, chatml, gemma, phi3, falcon3.
inline Status chat_template_from_name(const std::string& name, ChatTemplate& out) {
    const std::pair<const char*, ChatTemplate> names[] = {
        {"llama2", ChatTemplate::llama2}, {"llama2-sys", ChatTemplate::llama2_sys}, {"llama3", ChatTemplate::llama3},
        {"chatml", ChatTemplate::chatml}, {"gemma", ChatTemplate::gemma},          {"phi3", ChatTemplate::phi3},
        {"falcon3", ChatTemplate::falcon3}};
    for (auto& [n, t] : names)
        if (name == n) {
            out = t;
            return Status{};
        }
    return Status::fail(Error::invalid_argument, "unknown chat template '", name,
                        "' (llama2, llama2-sys, llama3, chatml, gemma, phi3, falcon3)");
}

// From a Jinja template's distinctive markers.
inline Status detect_chat_template(const std::string& jinja, ChatTemplate& out) {
    auto has = [&](const char* s) { return jinja.find(s) != std::string::npos; };
    if (has("<|im_start|>")) out = ChatTemplate::chatml;
    else if (has("<|start_header_id|>") && has("<|end_header_id|>")) out = ChatTemplate::llama3;
    else if (has("<start_of_turn>")) out = ChatTemplate::gemma;
    else if (has("[INST]")) out = has("<<SYS>>") ? ChatTemplate::llama2_sys : ChatTemplate::llama2;
    else if (has("<|assistant|>") && has("<|end|>")) out = ChatTemplate::phi3;
    else if (has("<|assistant|>") && has("<|user|>") && has("</s>")) out = ChatTemplate::falcon3;
    else return Status::fail(Error::unsupported_op, "chat template not recognised (choose one with --chat-template)");
    return Status{};
}

namespace detail {
inline std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\n\r\v\f"), e = s.find_last_not_of(" \t\n\r\v\f");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}
} // namespace detail

// The prompt text for a conversation; add_assistant opens the assistant's turn.
inline std::string format_chat(ChatTemplate t, const std::vector<ChatMessage>& chat, bool add_assistant) {
    using detail::trim;
    std::string s;
    switch (t) {
    case ChatTemplate::chatml:
        for (const ChatMessage& m : chat) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        if (add_assistant) s += "<|im_start|>assistant\n";
        break;
    case ChatTemplate::llama3:
        for (const ChatMessage& m : chat)
            s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
        if (add_assistant) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
        break;
    case ChatTemplate::llama2:
    case ChatTemplate::llama2_sys: {
        // [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]{assistant}</s>[INST] ...
        bool inside_turn = true;
        s += "[INST] ";
        for (const ChatMessage& m : chat) {
            if (!inside_turn) {
                inside_turn = true;
                s += "[INST] ";
            }
            if (m.role == "system") s += t == ChatTemplate::llama2_sys ? "<<SYS>>\n" + m.content + "\n<</SYS>>\n\n" : m.content + "\n";
            else if (m.role == "user") s += m.content + " [/INST]";
            else {
                s += m.content + "</s>";
                inside_turn = false;
            }
        }
        break;
    }
    case ChatTemplate::gemma: {
        std::string system;  // Gemma has no system role: it is merged into the next user turn
        for (const ChatMessage& m : chat) {
            if (m.role == "system") {
                system += trim(m.content);
                continue;
            }
            const std::string role = m.role == "assistant" ? "model" : m.role;
            s += "<start_of_turn>" + role + "\n";
            if (!system.empty() && role != "model") {
                s += system + "\n\n";
                system.clear();
            }
            s += trim(m.content) + "<end_of_turn>\n";
        }
        if (add_assistant) s += "<start_of_turn>model\n";
        break;
    }
    case ChatTemplate::phi3:
        for (const ChatMessage& m : chat) s += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
        if (add_assistant) s += "<|assistant|>\n";
        break;
    case ChatTemplate::falcon3:
        for (const ChatMessage& m : chat) s += "<|" + m.role + "|>\n" + m.content + "\n";
        if (add_assistant) s += "<|assistant|>\n";
        break;
    }
    return s;
}

// The text a new message adds to a conversation already in the KV cache: the formatted
// conversation with it, minus the formatted conversation before it.
inline std::string format_chat_increment(ChatTemplate t, const std::vector<ChatMessage>& history,
                                         const ChatMessage& message, bool add_assistant) {
    std::string before = history.empty() ? std::string() : format_chat(t, history, false);
    std::vector<ChatMessage> all = history;
    all.push_back(message);
    std::string after = format_chat(t, all, add_assistant);
    return after.compare(0, before.size(), before) == 0 ? after.substr(before.size()) : after;
}

} // namespace tinyllm
