#!/usr/bin/env python3
"""An application's "LLM API" (generate / chat / instruct, streaming), written against
llama-cpp-python's Llama and moved to tinyllm by changing one import: the same code serves a
GGUF file and an ExecuTorch .pte program (with the GGUF file holding its vocabulary).

    app.py MODEL.gguf "ROMEO:"                          # generate
    app.py MODEL.pte --tokenizer VOCAB.gguf "ROMEO:"    # the same on a .pte program
    app.py MODEL.gguf --chat-format chatml --instruct "Who art thou?"
"""
import argparse
import sys

from tinyllm import Llama  # was: from llama_cpp import Llama


class LLMApi:
    def __init__(self, model, tokenizer=None, chat_format=None):
        self.llm = Llama(model, tokenizer_path=tokenizer, chat_format=chat_format)

    def generate(self, prompt, max_tokens=64, temperature=0.0):
        for chunk in self.llm(prompt, max_tokens=max_tokens, temperature=temperature, stream=True):
            yield chunk["choices"][0]["text"]

    def chat(self, messages, max_tokens=64, temperature=0.0):
        for chunk in self.llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=temperature, stream=True):
            yield chunk["choices"][0]["delta"].get("content", "")

    def instruct(self, instruction, **kwargs):
        return self.chat([{"role": "user", "content": instruction}], **kwargs)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("prompt")
    ap.add_argument("--tokenizer")
    ap.add_argument("--chat-format")
    ap.add_argument("--instruct", action="store_true")
    ap.add_argument("-n", type=int, default=64)
    args = ap.parse_args()
    api = LLMApi(args.model, args.tokenizer, args.chat_format)
    for text in (api.instruct if args.instruct else api.generate)(args.prompt, max_tokens=args.n):
        print(text, end="", flush=True)
    print()
