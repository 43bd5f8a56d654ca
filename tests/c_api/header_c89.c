/* tinyllm.h compiles as strict C89 (built, not run: -std=c89 -pedantic -Werror). */
#include "tinyllm.h"

int tinyllm_header_is_c89(void) {
    tinyllm_context_params params = tinyllm_context_default_params();
    return params.n_batch;
}
