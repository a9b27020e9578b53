/* Runs a model compiled by attnres-compile on inputs of ones (integer inputs
 * zeros), with nothing but libattnres_runtime; prints each output's sum.
 *   cc run_model.c -I runtime/include -L build/lib -lattnres_runtime
 *   ./a.out model.so                                                     */
#include "attnres/Runtime/Model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  attnres_model *model = attnres_model_load(argc > 1 ? argv[1] : "model.so");
  if (!model)
    return fprintf(stderr, "%s\n", attnres_last_error()), 1;
  int n = attnres_model_num_inputs(model), m = attnres_model_num_outputs(model);
  attnres_tensor *in = calloc(n + 1, sizeof *in),
                 *out = calloc(m + 1, sizeof *out);
  for (int i = 0; i < n; ++i) {
    const attnres_tensor_info *info = attnres_model_input(model, i);
    size_t count = 1;
    in[i] = (attnres_tensor){info->dtype, info->rank,
                             malloc(8 * (info->rank + 1)), 0};
    for (int d = 0; d < info->rank; ++d)
      count *= (in[i].shape[d] = info->shape[d] < 0 ? 1 : info->shape[d]);
    in[i].data = calloc(count + 1, attnres_dtype_size(info->dtype));
    for (size_t e = 0; e < count && info->dtype == ATTNRES_F32; ++e)
      ((float *)in[i].data)[e] = 1.0f;
  }
  if (attnres_model_run(model, in, out))
    return fprintf(stderr, "%s\n", attnres_last_error()), 1;
  for (int i = 0; i < m; ++i) {
    size_t count = 1;
    double sum = 0;
    for (int d = 0; d < out[i].rank; ++d)
      count *= out[i].shape[d];
    for (size_t e = 0; e < count && out[i].dtype == ATTNRES_F32; ++e)
      sum += ((float *)out[i].data)[e];
    printf("%s: %s sum=%.6g\n", attnres_model_output(model, i)->name,
           attnres_dtype_name(out[i].dtype), sum);
    attnres_tensor_free(&out[i]);
  }
  for (int i = 0; i < n; ++i)
    free(in[i].shape), free(in[i].data);
  free(in), free(out);
  attnres_model_destroy(model);
  return 0;
}
