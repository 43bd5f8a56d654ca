"""tinyllm for Python: llama-cpp-python's Llama API over the tinyllm engine (libtinyllm), for
GGUF models and ExecuTorch .pte programs. Standard library only (ctypes).

    from tinyllm import Llama
    llm = Llama("model.gguf", n_ctx=2048)
    print(llm("Q: Name the planets. A:", max_tokens=64)["choices"][0]["text"])
"""
from ._library import TinyllmError, TinyllmFileError, TinyllmRuntimeError, TinyllmValueError, lib as _lib
from .llama import CHAT_FORMATS, Llama, LlamaLookaheadDecoding, LlamaPromptLookupDecoding, LlamaState

__version__ = _lib.tinyllm_version().decode()
__all__ = ["Llama", "LlamaLookaheadDecoding", "LlamaPromptLookupDecoding", "LlamaState", "CHAT_FORMATS", "TinyllmError", "TinyllmFileError", "TinyllmRuntimeError", "TinyllmValueError"]
