/*===- generate.c - Greedy decoding with a KV-cache decode step -----------===*\
|*                                                                          *|
|* Generates tokens with one artifact compiled from a decoder's decode-step  *|
|* export (input_ids, attention_mask and past_key_values.<l>.key/value in;   *|
|* logits and present.<l>.key/value out, the past length dynamic): the      *|
|* prompt is the first step, with empty pasts, and every later step feeds   *|
|* the last token and the presents back as pasts. Needs nothing but the     *|
|* runtime's C ABI.                                                         *|
|*                                                                          *|
|*   cc examples/generate.c -I runtime/include -L build/lib \               *|
|*      -lattnres_runtime -Wl,-rpath,build/lib -o generate                  *|
|*   attnres-compile decode.onnx -o decode.so                               *|
|*   ./generate decode.so 12 39 13 16 8 49                                  *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#include "attnres/Runtime/Model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the decode step reads, by input position. */
enum role { IDS, MASK, PAST };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void fail(const char *what) {
  fprintf(stderr, "generate: %s: %s\n", what, attnres_last_error());
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL.so NEW_TOKENS PROMPT_TOKEN...\n", argv[0]);
    return 2;
  }
  int new_tokens = atoi(argv[2]);
  int prompt_len = argc - 3;
  attnres_model *model = attnres_model_load(argv[1]);
  if (!model) {
    fail("cannot load the model");
    return 1;
  }
  /* Everything below is freed at `done`, on success and failure alike. */
  int status = 1, steps = 0;
  int64_t *tokens = NULL, *mask = NULL;

  int num_in = attnres_model_num_inputs(model);
  int num_out = attnres_model_num_outputs(model);
  enum role *roles = calloc(num_in, sizeof *roles);
  int *present_of = calloc(num_in, sizeof *present_of); /* output index */
  int *past_axis = calloc(num_in, sizeof *past_axis);
  attnres_tensor *in = calloc(num_in, sizeof *in);
  attnres_tensor *out = calloc(num_out, sizeof *out);
  int logits = -1;
  for (int o = 0; o < num_out; ++o)
    if (!strcmp(attnres_model_output(model, o)->name, "logits"))
      logits = o;
  if (logits < 0) {
    fprintf(stderr, "generate: the model has no 'logits' output\n");
    goto done;
  }

  /* Inputs by name; each past is fed by the present of the same suffix and
   * starts empty along its one dynamic axis after the batch. */
  for (int i = 0; i < num_in; ++i) {
    const attnres_tensor_info *info = attnres_model_input(model, i);
    in[i].dtype = info->dtype;
    in[i].rank = info->rank;
    in[i].shape = calloc(info->rank, sizeof(int64_t));
    if (!strcmp(info->name, "input_ids")) {
      roles[i] = IDS;
    } else if (!strcmp(info->name, "attention_mask")) {
      roles[i] = MASK;
    } else if (!strncmp(info->name, "past_key_values.", 16)) {
      roles[i] = PAST;
      char present[256];
      snprintf(present, sizeof present, "present.%s", info->name + 16);
      present_of[i] = -1;
      for (int o = 0; o < num_out; ++o)
        if (!strcmp(attnres_model_output(model, o)->name, present))
          present_of[i] = o;
      past_axis[i] = -1;
      for (int d = 1; d < info->rank; ++d)
        if (info->shape[d] < 0)
          past_axis[i] = d;
      if (present_of[i] < 0 || past_axis[i] < 0) {
        fprintf(stderr,
                "generate: input '%s' has no output '%s' or no dynamic "
                "length\n",
                info->name, present);
        goto done;
      }
      for (int d = 0; d < info->rank; ++d)
        in[i].shape[d] = d == past_axis[i] ? 0 : d == 0 ? 1 : info->shape[d];
    } else {
      fprintf(stderr, "generate: unknown input '%s'\n", info->name);
      goto done;
    }
  }

  int total = prompt_len + new_tokens;
  tokens = malloc(total * sizeof *tokens);
  mask = malloc(total * sizeof *mask);
  for (int t = 0; t < prompt_len; ++t)
    tokens[t] = atoll(argv[3 + t]);
  for (int t = 0; t < total; ++t)
    mask[t] = 1;

  /* An export traced at one new token (TorchScript's) takes the prompt one
   * token a step. */
  int64_t chunk = 0;
  for (int i = 0; i < num_in; ++i)
    if (roles[i] == IDS && attnres_model_input(model, i)->shape[1] > 0)
      chunk = attnres_model_input(model, i)->shape[1];

  int length = prompt_len; /* tokens known so far */
  int past = 0;            /* tokens the cache holds */
  int generated = 0;
  double prefill_ms = 0, decode_ms = 0;
  while (generated < new_tokens) {
    int fresh = length - past;
    if (chunk > 0 && fresh > chunk)
      fresh = (int)chunk;
    for (int i = 0; i < num_in; ++i) {
      if (roles[i] == IDS) {
        in[i].shape[0] = 1;
        in[i].shape[1] = fresh;
        in[i].data = tokens + past;
      } else if (roles[i] == MASK) {
        in[i].shape[0] = 1;
        in[i].shape[1] = length;
        in[i].data = mask;
      }
    }
    double start = now_ms();
    if (attnres_model_run(model, in, out)) {
      fail("the decode step failed");
      goto done;
    }
    double elapsed = now_ms() - start;
    *(generated == 0 ? &prefill_ms : &decode_ms) += elapsed;
    past += fresh;

    /* Once the cache holds every known token, the next one: the argmax of
     * the last position's logits. */
    if (past == length) {
      attnres_tensor *l = &out[logits];
      int64_t vocab = l->shape[l->rank - 1];
      const float *row = (const float *)l->data + (l->shape[1] - 1) * vocab;
      int64_t best = 0;
      for (int64_t v = 1; v < vocab; ++v)
        if (row[v] > row[best])
          best = v;
      tokens[length++] = best;
      ++generated;
    }

    /* The presents become the pasts; the runtime owns what it returned. */
    for (int i = 0; i < num_in; ++i) {
      if (roles[i] != PAST)
        continue;
      if (steps > 0)
        attnres_tensor_free(&in[i]);
      else
        free(in[i].shape);
      in[i] = out[present_of[i]];
      out[present_of[i]].shape = NULL;
      out[present_of[i]].data = NULL;
    }
    for (int o = 0; o < num_out; ++o)
      attnres_tensor_free(&out[o]);
    ++steps;
  }

  printf("tokens:");
  for (int t = 0; t < length; ++t)
    printf(" %lld", (long long)tokens[t]);
  printf("\n");
  fprintf(stderr,
          "prefill: %d tokens in %.3f ms; decode: %.3f ms per token over %d "
          "tokens\n",
          prompt_len, prefill_ms,
          new_tokens > 1 ? decode_ms / (new_tokens - 1) : 0.0, new_tokens - 1);
  status = 0;

done:
  for (int i = 0; i < num_in; ++i) {
    if (roles[i] == PAST && steps > 0)
      attnres_tensor_free(&in[i]);
    else
      free(in[i].shape);
  }
  free(in);
  free(out);
  free(roles);
  free(present_of);
  free(past_axis);
  free(tokens);
  free(mask);
  attnres_model_destroy(model);
  return status;
}
