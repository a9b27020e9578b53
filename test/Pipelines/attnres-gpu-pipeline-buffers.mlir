// A launch reads its tensors' buffers where it runs, not where an earlier
// launch of the same tensors ran: b0 is read by both phase-1 kernels, and
// b1 = b0 + y comes between them. When the launches' to_buffer ops were
// CSE'd into one, bufferization saw no read of b0 after the add, computed
// b1 in b0's buffer, and the second kernel read b1 twice (every Block
// AttnRes model was wrong on a GPU). The second launch must get two buffers
// (a memref is its descriptor's 7 fields here: compare the first pointers).
//
// RUN: attnres-opt %s --attnres-gpu-pipeline="raise=false two-phase=false format=isa" \
// RUN:   | grep "@attnres_kernels::@phase1_16xf32_n2_s1 " \
// RUN:   | %python -c "import re, sys; a = re.search(r'args\((%%\w+) : !llvm.ptr, %%\w+ : !llvm.ptr(?:, %%\w+ : i64){5}, (%%\w+) : !llvm.ptr', sys.stdin.read()); print(a.groups()); sys.exit(a.group(1) == a.group(2))" \
// RUN:   | FileCheck %s
// REQUIRES: ptxas

// CHECK: ('%[[B0:[a-z0-9_]+]]', '%[[B1:[a-z0-9_]+]]')

func.func @blocks(%x: tensor<16x16xf32>, %y: tensor<16x16xf32>, %q: tensor<16xf32>, %k: tensor<16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>) {
  %b0 = tosa.add %x, %x : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %o1, %lse1 = attnres.phase1 %b0 queries(%q) key_norms(%k) epsilon = 1.0e-06 : tensor<16x16xf32>, tensor<16xf32>
  %b1 = tosa.add %b0, %y : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %o2, %lse2 = attnres.phase1 %b0, %b1 queries(%q) key_norms(%k) epsilon = 1.0e-06 : tensor<16x16xf32>, tensor<16xf32>
  return %o1, %o2 : tensor<16x16xf32>, tensor<16x16xf32>
}
