// Chat templates: exact prompt text for each format, detection from Jinja templates, and the
// incremental text a new turn adds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tinyllm/text/chat_template.hpp"

using namespace tinyllm;

namespace {
const std::vector<ChatMessage> conversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Who are you?"}};
}

TEST_CASE("each template formats a conversation exactly") {
    CHECK(format_chat(ChatTemplate::chatml, conversation, true) ==
          "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
          "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n");
    CHECK(format_chat(ChatTemplate::llama3, conversation, true) ==
          "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
    CHECK(format_chat(ChatTemplate::llama2_sys, conversation, true) ==
          "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] Who are you? [/INST]");
    CHECK(format_chat(ChatTemplate::llama2, conversation, true) == "[INST] Be brief.\nHi [/INST]Hello!</s>[INST] Who are you? [/INST]");
    CHECK(format_chat(ChatTemplate::gemma, conversation, true) ==
          "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
          "<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n");
    CHECK(format_chat(ChatTemplate::phi3, conversation, true) ==
          "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n");
    CHECK(format_chat(ChatTemplate::falcon3, conversation, true) ==
          "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello!\n<|user|>\nWho are you?\n<|assistant|>\n");
}

TEST_CASE("templates are recognised from Jinja snippets and names") {
    ChatTemplate t;
    REQUIRE(detect_chat_template("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}", t).ok());
    CHECK(t == ChatTemplate::chatml);
    REQUIRE(detect_chat_template("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}", t).ok());
    CHECK(t == ChatTemplate::llama3);
    REQUIRE(detect_chat_template("{{ '<start_of_turn>' + role + '\\n' }}", t).ok());
    CHECK(t == ChatTemplate::gemma);
    REQUIRE(detect_chat_template("{{ bos_token + '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>' }}", t).ok());
    CHECK(t == ChatTemplate::llama2_sys);
    REQUIRE(detect_chat_template("{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>'}}", t).ok());
    CHECK(t == ChatTemplate::phi3);
    REQUIRE(detect_chat_template("{{'<|user|>\\n' + content}}{{'<|assistant|>\\n'}}{{ eos_token }}</s>", t).ok());
    CHECK(t == ChatTemplate::falcon3);
    CHECK(detect_chat_template("{{ messages }}", t).code == Error::unsupported_op);
    REQUIRE(chat_template_from_name("gemma", t).ok());
    CHECK(t == ChatTemplate::gemma);
    Status st = chat_template_from_name("vicuna", t);
    CHECK(st.code == Error::invalid_argument);
    CHECK(std::string(st.detail).find("vicuna") != std::string::npos);
}

TEST_CASE("a new turn adds exactly the text between the old and the new conversation") {
    for (ChatTemplate t : {ChatTemplate::chatml, ChatTemplate::llama3, ChatTemplate::gemma, ChatTemplate::phi3, ChatTemplate::falcon3,
                           ChatTemplate::llama2_sys}) {
        std::vector<ChatMessage> history(conversation.begin(), conversation.begin() + 3);
        std::string inc = format_chat_increment(t, history, conversation[3], true);
        CHECK(format_chat(t, history, false) + inc == format_chat(t, conversation, true));
    }
}
