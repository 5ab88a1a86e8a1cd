/* Status texts and the version queries. */
#include "pylstm.h"

const char *pylstm_strerror(pylstm_status status) {
    switch (status) {
    case PYLSTM_OK: return "success";
    case PYLSTM_ERR_NULL_POINTER: return "a required pointer argument is NULL";
    case PYLSTM_ERR_BAD_SIZE: return "a size is less than 1 or sizes are inconsistent";
    case PYLSTM_ERR_OVERFLOW: return "a buffer size overflows size_t";
    case PYLSTM_ERR_WORK_TOO_SMALL: return "the work buffer is smaller than required";
    case PYLSTM_ERR_RESERVE_TOO_SMALL: return "the reserve buffer is smaller than required";
    case PYLSTM_ERR_BAD_LENGTHS: return "a sequence length is outside 1..T";
    case PYLSTM_ERR_BAD_ARGUMENT: return "an argument is out of range";
    case PYLSTM_ERR_OUT_OF_MEMORY: return "out of memory";
    case PYLSTM_ERR_IO: return "file system error";
    case PYLSTM_ERR_FORMAT: return "malformed file";
    case PYLSTM_ERR_NOT_FOUND: return "no such tensor, key or entry";
    case PYLSTM_ERR_BUFFER_TOO_SMALL: return "a caller buffer is smaller than required";
    case PYLSTM_ERR_DTYPE: return "the element type does not match the model's";
    }
    return "unknown status";
}

const char *pylstm_version(void) { return PYLSTM_VERSION_STRING; }

unsigned pylstm_version_number(void) { return PYLSTM_VERSION_NUMBER; }
