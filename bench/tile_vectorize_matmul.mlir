// Transform script for the benchmark's alternative to BLAS: tile every batch
// matmul to 1x8x32x1 (8 rows by two AVX-512 vectors of 16, one k at a time),
// vectorize the tiles, and after bufferization keep the accumulators in
// registers across the k loop. bench/bench_llama.py runs it through
// attnres-run --pipeline with transform-preload-library and
// transform-interpreter{entry-point=...}. Shapes must be multiples of the
// tile (the benchmark's vocabulary is 1024 for this reason).
module attributes {transform.with_named_sequence} {
  transform.named_sequence @tile_vectorize(%root: !transform.any_op {transform.readonly}) {
    %mm = transform.structured.match ops{["linalg.batch_matmul"]} in %root
        : (!transform.any_op) -> !transform.any_op
    %tiled, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %mm
        tile_sizes [1, 8, 32, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op,
                                  !transform.any_op)
    transform.structured.vectorize %tiled : !transform.any_op
    transform.yield
  }
  transform.named_sequence @hoist(%root: !transform.any_op {transform.readonly}) {
    %f = transform.structured.match ops{["func.func"]} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.structured.hoist_redundant_vector_transfers %f
        : (!transform.any_op) -> !transform.any_op
    transform.yield
  }
}
