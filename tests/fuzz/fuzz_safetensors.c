/* libFuzzer harness for the safetensors reader (src_c/safetensors.c).
 *
 * Every input must give PYLSTM_OK or PYLSTM_ERR_FORMAT (PYLSTM_ERR_OUT_OF_MEMORY
 * only if the fuzzer's malloc limit is hit); on OK every tensor byte and
 * string handed out is read, so ASan catches any pointer outside the reader's
 * own memory. .ci/fuzz.sh builds and runs it; by hand (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc_c/include -Isrc_c \
 *       tests/fuzz/fuzz_safetensors.c src_c/safetensors.c src_c/status.c \
 *       -o build/fuzz_safetensors
 *   cp -r tests/fuzz/corpus/safetensors /tmp/corpus && build/fuzz_safetensors \
 *       -dict=tests/fuzz/safetensors.dict -max_total_time=60 /tmp/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pylstm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pylstm_safetensors *st = NULL;
    pylstm_status rc = pylstm_safetensors_parse(data, size, &st);
    if (rc == PYLSTM_OK) {
        size_t n = 0, k, j, idx;
        volatile unsigned acc = 0;
        const char *key, *value;
        pylstm_safetensors_count(st, &n);
        for (k = 0; k < n; k++) {
            pylstm_safetensors_info info;
            if (pylstm_safetensors_tensor(st, k, &info) != PYLSTM_OK) abort();
            for (j = 0; j < info.nbytes; j++) acc += ((const unsigned char *)info.data)[j];
            if (pylstm_safetensors_find(st, info.name, &idx) != PYLSTM_OK || idx != k) abort();
        }
        pylstm_safetensors_metadata_count(st, &n);
        for (k = 0; k < n; k++) {
            if (pylstm_safetensors_metadata_entry(st, k, &key, &value) != PYLSTM_OK) abort();
            acc += (unsigned)strlen(key) + (unsigned)strlen(value);
        }
        (void)acc;
    } else if (rc != PYLSTM_ERR_FORMAT && rc != PYLSTM_ERR_OUT_OF_MEMORY) {
        abort();
    }
    if ((rc == PYLSTM_OK) != (st != NULL)) abort();
    pylstm_safetensors_free(st);
    return 0;
}
