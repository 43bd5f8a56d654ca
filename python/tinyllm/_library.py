"""The ctypes view of libtinyllm (include/tinyllm.h): its structs, its functions' signatures,
and the errors its status codes become."""
import ctypes
import ctypes.util
import os

token = ctypes.c_int


class Sampling(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_float), ("top_k", ctypes.c_int), ("top_p", ctypes.c_float),
                ("min_p", ctypes.c_float), ("typical_p", ctypes.c_float), ("repeat_penalty", ctypes.c_float),
                ("frequency_penalty", ctypes.c_float), ("presence_penalty", ctypes.c_float),
                ("penalty_last_n", ctypes.c_int), ("seed", ctypes.c_ulong)]


class ContextParams(ctypes.Structure):
    _fields_ = [("n_ctx", ctypes.c_int), ("n_batch", ctypes.c_int), ("n_threads", ctypes.c_int), ("sampling", Sampling),
                ("draft_model", ctypes.c_void_p), ("lookup_ngram", ctypes.c_int), ("draft_max", ctypes.c_int),
                ("lookahead_window", ctypes.c_int), ("lookahead_ngram", ctypes.c_int), ("lookahead_verify", ctypes.c_int)]


class GenerateParams(ctypes.Structure):
    _fields_ = [("n_predict", ctypes.c_int), ("stop", ctypes.POINTER(ctypes.c_char_p)), ("n_stop", ctypes.c_int),
                ("abort", ctypes.POINTER(ctypes.c_int))]


class Piece(ctypes.Structure):
    _fields_ = [("id", token), ("text", ctypes.c_void_p), ("text_len", ctypes.c_size_t)]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


SEED_CONTINUE = ctypes.c_ulong(-1).value  # TINYLLM_SEED_CONTINUE

# tinyllm_status values (tinyllm.h) by the exception they raise.
STATUS_IO = 22
STATUS_OUT_OF_MEMORY = 21
ARGUMENT_STATUSES = {19, 20, 23}  # token out of range, context full, invalid argument
STOP_REASONS = ("length", "stop", "stop", "stop", "length")  # tinyllm_stop_reason -> OpenAI finish_reason


class TinyllmError(Exception):
    """An error the engine reported; `status` is its tinyllm_status name (e.g. "context full")."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class TinyllmValueError(TinyllmError, ValueError):
    """A bad argument: out-of-range value or token, a prompt that does not fit the context."""


class TinyllmFileError(TinyllmError, OSError):
    """A file that cannot be read."""


class TinyllmRuntimeError(TinyllmError, RuntimeError):
    """A model, program or saved state the engine refuses (corrupt, unsupported, another model's)."""


def _find_library():
    """TINYLLM_LIBRARY, else the library installed beside this package, else the system's."""
    named = os.environ.get("TINYLLM_LIBRARY")
    if named:
        return named
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libtinyllm.so")
    if os.path.exists(beside):
        return beside
    found = ctypes.util.find_library("tinyllm")
    if found:
        return found
    raise OSError("libtinyllm not found: set TINYLLM_LIBRARY to its path, or install tinyllm with "
                  "`cmake --install BUILD_DIR --prefix PREFIX` (the library goes beside this package)")


def _declare(lib):
    p = ctypes.POINTER
    model, context = ctypes.c_void_p, ctypes.c_void_p
    signatures = {
        "tinyllm_version": (ctypes.c_char_p, []),
        "tinyllm_last_error": (ctypes.c_char_p, []),
        "tinyllm_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "tinyllm_model_open": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, p(model)]),
        "tinyllm_model_free": (None, [model]),
        "tinyllm_model_n_vocab": (ctypes.c_int, [model]),
        "tinyllm_model_n_ctx_max": (ctypes.c_int, [model]),
        "tinyllm_model_bos": (token, [model]),
        "tinyllm_model_eos": (token, [model]),
        "tinyllm_tokenize": (ctypes.c_int, [model, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, p(token), ctypes.c_int,
                                            p(ctypes.c_int)]),
        "tinyllm_detokenize": (ctypes.c_int, [model, p(token), ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, p(ctypes.c_size_t)]),
        "tinyllm_chat_apply_template": (ctypes.c_int, [model, ctypes.c_char_p, p(ChatMessage), ctypes.c_size_t, ctypes.c_int,
                                                       ctypes.c_char_p, ctypes.c_size_t, p(ctypes.c_size_t)]),
        "tinyllm_sampling_default": (Sampling, []),
        "tinyllm_context_default_params": (ContextParams, []),
        "tinyllm_context_create": (ctypes.c_int, [model, p(ContextParams), p(context)]),
        "tinyllm_context_free": (None, [context]),
        "tinyllm_n_ctx": (ctypes.c_int, [context]),
        "tinyllm_n_tokens": (ctypes.c_int, [context]),
        "tinyllm_get_tokens": (ctypes.c_int, [context, p(token), ctypes.c_int, p(ctypes.c_int)]),
        "tinyllm_set_sampling": (ctypes.c_int, [context, p(Sampling)]),
        "tinyllm_truncate": (ctypes.c_int, [context, ctypes.c_int]),
        "tinyllm_eval": (ctypes.c_int, [context, p(token), ctypes.c_int]),
        "tinyllm_get_logits": (p(ctypes.c_float), [context]),
        "tinyllm_sample": (ctypes.c_int, [context, p(token)]),
        "tinyllm_generate_default_params": (GenerateParams, []),
        "tinyllm_generate_begin": (ctypes.c_int, [context, p(token), ctypes.c_int, p(GenerateParams)]),
        "tinyllm_generate_next": (ctypes.c_int, [context, p(Piece), p(ctypes.c_int)]),
        "tinyllm_stop_reason_of": (ctypes.c_int, [context]),
        "tinyllm_state_size": (ctypes.c_size_t, [context]),
        "tinyllm_state_save": (ctypes.c_int, [context, ctypes.c_void_p, ctypes.c_size_t, p(ctypes.c_size_t)]),
        "tinyllm_state_load": (ctypes.c_int, [context, ctypes.c_void_p, ctypes.c_size_t]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _declare(ctypes.CDLL(_find_library()))


def check(status):
    """Raises the exception a failed call's status stands for, with the engine's message."""
    if status == 0:
        return
    message = lib.tinyllm_last_error().decode("utf-8", "replace")
    name = lib.tinyllm_status_name(status).decode()
    if status == STATUS_IO:
        raise TinyllmFileError(message, name)
    if status in ARGUMENT_STATUSES:
        raise TinyllmValueError(message, name)
    raise TinyllmRuntimeError(message, name)
