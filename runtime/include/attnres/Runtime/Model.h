/*===- Model.h - The C ABI of compiled attnres models -----------*- C -*-===*\
|*                                                                          *|
|* attnres-compile turns a model into a shared library; libattnres_runtime   *|
|* loads it and runs it through these functions. The runtime needs neither  *|
|* LLVM nor MLIR, so an artifact built on one machine runs on any with the  *|
|* same architecture and C library. Functions that can fail return NULL or  *|
|* a nonzero status and leave a message for attnres_last_error().           *|
|*                                                                          *|
|* A session:                                                               *|
|*   attnres_model *m = attnres_model_load("model.so");                     *|
|*   const attnres_tensor_info *in = attnres_model_input(m, 0);             *|
|*   attnres_tensor x = {in->dtype, in->rank, shape, data};                 *|
|*   attnres_tensor y;                                                      *|
|*   if (attnres_model_run(m, &x, &y)) puts(attnres_last_error());          *|
|*   ... use y.shape, y.data ...                                            *|
|*   attnres_tensor_free(&y);                                               *|
|*   attnres_model_destroy(m);                                              *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTNRES_RUNTIME_MODEL_H
#define ATTNRES_RUNTIME_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, numbered as in NumPy's order of the same names. */
typedef enum attnres_dtype {
  ATTNRES_F16 = 0,
  ATTNRES_F32 = 1,
  ATTNRES_F64 = 2,
  ATTNRES_I8 = 3,
  ATTNRES_I16 = 4,
  ATTNRES_I32 = 5,
  ATTNRES_I64 = 6,
  ATTNRES_U8 = 7,
  ATTNRES_BOOL = 8,
  /* Makes the type as wide as int, so that a runtime may check any value a
   * caller passes. */
  ATTNRES_DTYPE_LAST_ = 0x7fffffff
} attnres_dtype;

/* A dense array in C order. Inputs are the caller's; outputs filled by
 * attnres_model_run own their shape and data until attnres_tensor_free. */
typedef struct attnres_tensor {
  attnres_dtype dtype;
  int32_t rank;
  int64_t *shape;
  void *data;
} attnres_tensor;

/* An input or output of a model: its graph name, element type and sizes,
 * -1 for a size fixed only when the model runs. */
typedef struct attnres_tensor_info {
  const char *name;
  attnres_dtype dtype;
  int32_t rank;
  const int64_t *shape;
} attnres_tensor_info;

typedef struct attnres_model attnres_model;

/* The version of this interface an artifact was built for; a runtime loads
 * only artifacts of its own version. */
#define ATTNRES_ABI_VERSION 1

/* Loads an artifact written by attnres-compile; NULL on failure. */
attnres_model *attnres_model_load(const char *path);
void attnres_model_destroy(attnres_model *model);

/* Where the model runs: "cuda" for one compiled with attnres-compile
 * --target=cuda (loading it fails where no CUDA device is usable), else
 * "cpu". */
const char *attnres_model_device(const attnres_model *model);

int attnres_model_num_inputs(const attnres_model *model);
int attnres_model_num_outputs(const attnres_model *model);
/* The i-th input or output, or NULL when i is out of range. The pointers
 * live as long as the model. */
const attnres_tensor_info *attnres_model_input(const attnres_model *model,
                                               int i);
const attnres_tensor_info *attnres_model_output(const attnres_model *model,
                                                int i);

/* Runs the model on its inputs, in the order of attnres_model_input, and
 * fills `outputs` (attnres_model_num_outputs of them). Returns 0, or nonzero
 * when an input does not match the model (outputs are then untouched).
 * Models may be run from several threads at once. */
int attnres_model_run(attnres_model *model, const attnres_tensor *inputs,
                      attnres_tensor *outputs);
void attnres_tensor_free(attnres_tensor *tensor);

/* Bytes of the packed copies of its weights that the model's matrix
 * products have made so far (oneDNN's layout, made on first use and kept
 * with the model); 0 when none is used. */
size_t attnres_model_packed_weight_bytes(const attnres_model *model);

/* How many threads later runs use, for every model of the process: the
 * parallel loops of compiled code and the matrix products (OpenBLAS) alike.
 * n >= 1 sets it; 0 leaves it as it is (at first OpenBLAS's default: all
 * cores, or OPENBLAS_NUM_THREADS). Call it before running models, not while
 * one runs. Returns the count now in effect. */
int attnres_set_num_threads(int n);

/* Bytes per element, and NumPy's name of the type ("float32"). */
size_t attnres_dtype_size(attnres_dtype dtype);
const char *attnres_dtype_name(attnres_dtype dtype);

/* The message of the last failure on this thread, or "" when none. */
const char *attnres_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNRES_RUNTIME_MODEL_H */
