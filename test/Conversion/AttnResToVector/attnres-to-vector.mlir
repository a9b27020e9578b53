// RUN: attnres-opt %s --attnres-to-vector --canonicalize --split-input-file | FileCheck %s
// RUN: not attnres-opt %s --attnres-to-vector=vector-bits=24 --split-input-file 2>&1 | FileCheck %s --check-prefix=BITS

// BITS: error: --attnres-to-vector: vector-bits must be a power of two from 32 to 4096, not 24

// One loop over the 2x5 token rows; per row, one pass over each source for
// its sum of squares and its dot product with query * key_norm (two full
// vectors of 16 and a masked tail of 8 at D = 40), then one pass forming the
// weighted sum. No reshapes: the rows are addressed by their token indices.
// CHECK-LABEL: func.func @block_attn_res
// CHECK-SAME: (%[[S0:[a-z0-9]+]]: tensor<2x5x40xf32>, %[[S1:[a-z0-9]+]]: tensor<2x5x40xf32>
// CHECK-NOT: collapse_shape
// CHECK: %[[R:.+]] = scf.forall (%[[ROW:.+]]) in (10) shared_outs(%[[OUT:.+]] = %{{.+}}) -> (tensor<2x5x40xf32>)
// CHECK-DAG: %[[T1:.+]] = arith.remui %[[ROW]], %c5
// CHECK-DAG: %[[T0:.+]] = arith.divui %[[ROW]], %c5
// CHECK: scf.for %[[K:.+]] = %c0 to %c32 step %c16 iter_args(%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK: vector.transfer_read %[[S0]][%[[T0]], %[[T1]], %[[K]]], %{{.+}} {in_bounds = [true]} : tensor<2x5x40xf32>, vector<16xf32>
// CHECK-COUNT-2: vector.fma
// CHECK: vector.transfer_read %[[S0]][%[[T0]], %[[T1]], %c32], %{{[^{]+}} : tensor<2x5x40xf32>, vector<16xf32>
// CHECK: vector.reduction <add>, %{{.+}} fastmath<reassoc>
// CHECK: scf.for
// CHECK: vector.transfer_read %[[S1]]
// CHECK: math.exp
// CHECK: math.exp
// CHECK: %[[ROWOUT:.+]] = tensor.extract_slice %[[OUT]][%[[T0]], %[[T1]], 0] [1, 1, 40] [1, 1, 1] : tensor<2x5x40xf32> to tensor<40xf32>
// CHECK: scf.for {{.+}} iter_args(%{{.+}} = %[[ROWOUT]]) -> (tensor<40xf32>)
// CHECK: vector.transfer_read %[[S0]]
// CHECK: vector.transfer_read %[[S1]]
// CHECK: vector.transfer_write %{{.+}} {in_bounds = [true]} : vector<16xf32>, tensor<40xf32>
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[OUT]][%[[T0]], %[[T1]], 0] [1, 1, 40] [1, 1, 1] : tensor<40xf32> into tensor<2x5x40xf32>
// CHECK: return %[[R]]
func.func @block_attn_res(%s0: tensor<2x5x40xf32>, %s1: tensor<2x5x40xf32>, %q: tensor<40xf32>, %k: tensor<40xf32>) -> tensor<2x5x40xf32> {
  %0 = attnres.block_attn_res %s0, %s1 query %q key_norm %k epsilon = 1.0e-06 : tensor<2x5x40xf32>, tensor<40xf32>
  return %0 : tensor<2x5x40xf32>
}

// -----

// Half-precision storage: rows read widened to f32 and written rounded;
// lse is f32. Only the layer whose output is read is formed; the unread
// output is never formed. Each block is scored for both layers in one
// pass (three accumulators: its squares and two dot products).
// CHECK-LABEL: func.func @phase1_bf16
// CHECK-SAME: (%[[B0:[a-z0-9]+]]: tensor<4x32xbf16>
// CHECK: scf.forall (%[[ROW:.+]]) in (4) shared_outs(%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) -> (tensor<4xf32>, tensor<4xf32>, tensor<4x32xbf16>)
// CHECK: scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: vector.transfer_read %[[B0]][%[[ROW]], %{{.+}}], %{{.+}} {in_bounds = [true]} : tensor<4x32xbf16>, vector<16xbf16>
// CHECK: arith.extf %{{.+}} : vector<16xbf16> to vector<16xf32>
// CHECK-COUNT-3: vector.fma
// CHECK: math.log
// CHECK: tensor.insert
// CHECK: math.log
// CHECK: tensor.insert
// CHECK: arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK-NOT: arith.truncf
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-3: tensor.parallel_insert_slice
// CHECK: return %{{.+}}, %{{.+}}#2, %{{.+}}#0, %{{.+}}#1
func.func @phase1_bf16(%b0: tensor<4x32xbf16>, %b1: tensor<4x32xbf16>, %q0: tensor<32xbf16>, %q1: tensor<32xbf16>, %k0: tensor<32xbf16>, %k1: tensor<32xbf16>) -> (tensor<4x32xbf16>, tensor<4x32xbf16>, tensor<4xf32>, tensor<4xf32>) {
  %o:2, %lse:2 = attnres.phase1 %b0, %b1 queries(%q0, %q1) key_norms(%k0, %k1) epsilon = 1.000000e-06 : tensor<4x32xbf16>, tensor<32xbf16>
  %unread = tensor.empty() : tensor<4x32xbf16>
  return %unread, %o#1, %lse#0, %lse#1 : tensor<4x32xbf16>, tensor<4x32xbf16>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Dynamic sizes: the token count is the product of the dynamic token dims,
// the operands' sizes are checked at run time, and the masked tail runs
// only when D is not a multiple of the vector width. With the fused norm
// and its merged row unread, one row tensor is written: the normalized one.
// CHECK-LABEL: func.func @phase2_dynamic
// CHECK-SAME: (%[[O:[a-z0-9]+]]: tensor<?x?x?xf32>, %[[LSE:[a-z0-9]+]]: tensor<?x?xf32>, %[[P:[a-z0-9]+]]: tensor<?x?x?xf32>
// CHECK: cf.assert {{.+}} "{{.*}}attnres.phase2: its tensor operands differ in size at run time (dim 0)"
// CHECK: %[[D0:.+]] = tensor.dim %[[P]], %c0
// CHECK: %[[D1:.+]] = tensor.dim %[[P]], %c1
// CHECK: %[[D2:.+]] = tensor.dim %[[P]], %c2
// CHECK: %[[ROWS:.+]] = arith.muli %[[D0]], %[[D1]]
// CHECK: %[[REM:.+]] = arith.remui %[[D2]], %c16
// CHECK: scf.forall (%[[ROW:.+]]) in (%[[ROWS]]) shared_outs(%{{.+}} = %{{.+}}) -> (tensor<?x?x?xf32>)
// CHECK: tensor.extract %[[LSE]]
// CHECK: scf.if
// CHECK: vector.transfer_read %[[O]]
// CHECK: vector.transfer_read %[[P]]
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-1: tensor.parallel_insert_slice
// CHECK-NOT: tensor.parallel_insert_slice
// CHECK: return
func.func @phase2_dynamic(%o: tensor<?x?x?xf32>, %lse: tensor<?x?xf32>, %p: tensor<?x?x?xf32>, %q: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?x?x?xf32> {
  %h, %y = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 norm %g epsilon = 1.0e-05 : tensor<?x?x?xf32>, tensor<?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

// A single row has no token axis to loop over: left to --attnres-to-linalg.
// CHECK-LABEL: func.func @one_row
// CHECK: attnres.block_attn_res
func.func @one_row(%s0: tensor<16xf32>, %s1: tensor<16xf32>, %q: tensor<16xf32>) -> tensor<16xf32> {
  %0 = attnres.block_attn_res %s0, %s1 query %q key_norm %q epsilon = 1.0e-06 : tensor<16xf32>, tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

// The add forming phase 2's partial sum is done in the loop: its operands
// are read instead of the partial, and the sum, read again after phase 2,
// is written while it is scored (a second output replacing the add).
// CHECK-LABEL: func.func @phase2_summed_partial
// CHECK-SAME: (%{{[a-z0-9]+}}: tensor<4x32xf32>, %{{[a-z0-9]+}}: tensor<4xf32>, %[[X:[a-z0-9]+]]: tensor<4x32xf32>, %[[Y:[a-z0-9]+]]: tensor<4x32xf32>
// CHECK-NOT: tosa.add
// CHECK: %[[R:.+]]:2 = scf.forall {{.+}} -> (tensor<4x32xf32>, tensor<4x32xf32>)
// CHECK: %[[XV:.+]] = vector.transfer_read %[[X]]
// CHECK: %[[YV:.+]] = vector.transfer_read %[[Y]]
// CHECK: arith.addf %[[XV]], %[[YV]] : vector<16xf32>
// CHECK: vector.transfer_write
// CHECK-NOT: tosa.add
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @phase2_summed_partial(%o: tensor<4x32xf32>, %lse: tensor<4xf32>, %x: tensor<4x32xf32>, %y: tensor<4x32xf32>, %q: tensor<32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %p = tosa.add %x, %y : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<4x32xf32>, tensor<32xf32>
  return %h, %p : tensor<4x32xf32>, tensor<4x32xf32>
}

// -----

// Read before phase 2 as well, the add stays.
// CHECK-LABEL: func.func @phase2_partial_read_before
// CHECK: tosa.add
// CHECK: tosa.abs
// CHECK: scf.forall
func.func @phase2_partial_read_before(%o: tensor<4x32xf32>, %lse: tensor<4xf32>, %x: tensor<4x32xf32>, %y: tensor<4x32xf32>, %q: tensor<32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %p = tosa.add %x, %y : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = tosa.abs %p : (tensor<4x32xf32>) -> tensor<4x32xf32>
  %h = attnres.phase2 %o, %lse, %p query %q key_norm %q epsilon = 1.0e-06 : tensor<4x32xf32>, tensor<32xf32>
  return %h, %a : tensor<4x32xf32>, tensor<4x32xf32>
}
