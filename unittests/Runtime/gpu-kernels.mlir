// The kernels CUDAKernelsTest runs on a GPU: built into PTX at build time
// (attnres-opt --attnres-gpu-pipeline="format=isa"), which the driver
// compiles for whichever device it finds.
//
// D = 4096 in bf16 and f32 (a row per block of 128 / 256 threads), and
// D = 1000 in f16 (a warp per row, four rows per block, the last vector of
// each lane predicated). The rows of D = 4096 are of a dynamic count, so
// that the split kernels of decode sizes (a row across several CTAs) are
// built beside the unsplit ones, for every phase-2 variant.

func.func @bf16(%b0: tensor<?x4096xbf16>, %b1: tensor<?x4096xbf16>, %b2: tensor<?x4096xbf16>, %p: tensor<?x4096xbf16>, %q0: tensor<4096xbf16>, %k0: tensor<4096xbf16>, %q1: tensor<4096xbf16>, %k1: tensor<4096xbf16>, %g: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1) key_norms(%k0, %k1) epsilon = 1.0e-06 : tensor<?x4096xbf16>, tensor<4096xbf16>
  %h, %y = attnres.phase2 %o#1, %lse#1, %p query %q1 key_norm %k1 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<?x4096xbf16>, tensor<4096xbf16>
  %h2, %y2 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<?x4096xbf16>, tensor<4096xbf16>
  %h3 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 : tensor<?x4096xbf16>, tensor<4096xbf16>
  %n = attnres.rms_norm %o#0, %g epsilon = 1.0e-05 : tensor<?x4096xbf16>, tensor<4096xbf16>
  return %n, %h, %y, %o#0, %y2, %h3 : tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

func.func @f32(%b0: tensor<?x4096xf32>, %b1: tensor<?x4096xf32>, %b2: tensor<?x4096xf32>, %p: tensor<?x4096xf32>, %q0: tensor<4096xf32>, %k0: tensor<4096xf32>, %q1: tensor<4096xf32>, %k1: tensor<4096xf32>, %g: tensor<4096xf32>) -> (tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1) key_norms(%k0, %k1) epsilon = 1.0e-06 : tensor<?x4096xf32>, tensor<4096xf32>
  %h, %y = attnres.phase2 %o#1, %lse#1, %p query %q1 key_norm %k1 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<?x4096xf32>, tensor<4096xf32>
  %h2, %y2 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<?x4096xf32>, tensor<4096xf32>
  %h3 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 : tensor<?x4096xf32>, tensor<4096xf32>
  %n = attnres.rms_norm %o#0, %g epsilon = 1.0e-05 : tensor<?x4096xf32>, tensor<4096xf32>
  return %n, %h, %y, %o#0, %y2, %h3 : tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>, tensor<?x4096xf32>
}

func.func @f16(%x: tensor<37x1000xf16>, %g: tensor<1000xf16>) -> tensor<37x1000xf16> {
  %n = attnres.rms_norm %x, %g epsilon = 1.0e-05 : tensor<37x1000xf16>, tensor<1000xf16>
  return %n : tensor<37x1000xf16>
}

// D = 16, what small models have: a row per warp with most lanes idle (four
// rows per block for the norms and phase 2, one for the aggregations); every
// kernel variant a model's lowering picks (phase 2 with and without the norm,
// the norm alone, the one-shot aggregation).
func.func @small(%b0: tensor<37x16xf32>, %b1: tensor<37x16xf32>, %b2: tensor<37x16xf32>, %p: tensor<37x16xf32>, %q0: tensor<16xf32>, %k0: tensor<16xf32>, %q1: tensor<16xf32>, %k1: tensor<16xf32>, %g: tensor<16xf32>) -> (tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1) key_norms(%k0, %k1) epsilon = 1.0e-06 : tensor<37x16xf32>, tensor<16xf32>
  %h, %y = attnres.phase2 %o#1, %lse#1, %p query %q1 key_norm %k1 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<37x16xf32>, tensor<16xf32>
  %h2, %y2 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<37x16xf32>, tensor<16xf32>
  %h3 = attnres.phase2 %o#0, %lse#0, %p query %q0 key_norm %k0 epsilon = 1.0e-06 : tensor<37x16xf32>, tensor<16xf32>
  %a = attnres.block_attn_res %b0, %b1, %b2, %p query %q1 key_norm %k1 epsilon = 1.0e-06 : tensor<37x16xf32>, tensor<16xf32>
  %n = attnres.rms_norm %b2, %g epsilon = 1.0e-05 : tensor<37x16xf32>, tensor<16xf32>
  return %o#0, %h, %y, %y2, %h3, %a, %n : tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>, tensor<37x16xf32>
}

// Twenty layers (ManyLayers): the stacked outputs and the [20, D] products.
func.func @many_f32(%b0: tensor<37x16xf32>, %b1: tensor<37x16xf32>, %b2: tensor<37x16xf32>, %q0: tensor<16xf32>, %k0: tensor<16xf32>, %q1: tensor<16xf32>, %k1: tensor<16xf32>) -> (tensor<37x16xf32>, tensor<37x16xf32>) {
  %o:20, %lse:20 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1) key_norms(%k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1) epsilon = 1.0e-06 : tensor<37x16xf32>, tensor<16xf32>
  return %o#0, %o#19 : tensor<37x16xf32>, tensor<37x16xf32>
}

func.func @many_bf16(%b0: tensor<?x4096xbf16>, %b1: tensor<?x4096xbf16>, %b2: tensor<?x4096xbf16>, %q0: tensor<4096xbf16>, %k0: tensor<4096xbf16>, %q1: tensor<4096xbf16>, %k1: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %o:20, %lse:20 = attnres.phase1 %b0, %b1, %b2 queries(%q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1, %q0, %q1) key_norms(%k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1, %k0, %k1) epsilon = 1.0e-06 : tensor<?x4096xbf16>, tensor<4096xbf16>
  return %o#0, %o#19 : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}
