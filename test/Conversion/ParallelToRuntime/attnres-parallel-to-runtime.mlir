// RUN: attnres-opt %s --split-input-file --attnres-parallel-to-runtime | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-parallel-to-runtime=min-work=100000 | FileCheck %s --check-prefix=SMALL
// A second run changes nothing: the outlined bodies keep their loops.
// RUN: attnres-opt %s --split-input-file --attnres-parallel-to-runtime --attnres-parallel-to-runtime | FileCheck %s

// An elementwise loop nest: its body moves into a function of a range of
// the first dimension with more than one iteration (here the second: the
// first has one), with the memrefs and the scalar it reads passed in a
// context; the constants are copied in, so the inner bounds stay static.

// CHECK-LABEL: func.func private @attnres_parallel_for((!llvm.ptr, i64, i64) -> (), !llvm.ptr, i64)
// CHECK-LABEL: func.func @exp
// CHECK-SAME:    (%[[A:.+]]: memref<1x128x512xf32>, %[[B:.+]]: memref<1x128x512xf32>, %[[S:.+]]: f32)
// CHECK:         %[[SLOT:.+]] = llvm.alloca %{{.*}} x !llvm.struct<({{.*}}f32{{.*}})>
// CHECK-DAG:     %[[DA:.+]] = builtin.unrealized_conversion_cast %[[A]] : memref<1x128x512xf32> to !llvm.struct<(ptr, ptr, i64, array<3 x i64>, array<3 x i64>)>
// CHECK-DAG:     llvm.store %[[DA]]
// CHECK-DAG:     llvm.store %[[S]]
// CHECK:         %[[N:.+]] = arith.index_cast %{{.*}} : index to i64
// CHECK:         %[[FN:.+]] = constant @exp_parallel0 : (!llvm.ptr, i64, i64) -> ()
// CHECK:         call @attnres_parallel_for(%[[FN]], %[[SLOT]], %[[N]])
// CHECK-NOT:     scf.parallel
// CHECK:         return
// CHECK-LABEL: func.func private @exp_parallel0
// CHECK-SAME:    (%[[CTX:.+]]: !llvm.ptr, %[[BEGIN:.+]]: i64, %[[END:.+]]: i64) attributes {attnres.parallel_body}
// CHECK-NOT:     attnres_parallel_for
// CHECK:         %[[C512:.+]] = arith.constant 512 : index
// CHECK:         llvm.load
// CHECK:         builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<{{.*}}> to memref<1x128x512xf32>
// CHECK:         %[[LO:.+]] = arith.addi
// CHECK:         %[[HI:.+]] = arith.minsi
// CHECK:         scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}) = (%{{.*}}, %[[LO]], %{{.*}}) to (%{{.*}}, %[[HI]], %[[C512]])
// CHECK:           math.exp
// CHECK:         return
// SMALL-LABEL: func.func @exp
// SMALL:         scf.parallel
// SMALL-NOT:     attnres_parallel_for
// SMALL:         return
func.func @exp(%a: memref<1x128x512xf32>, %b: memref<1x128x512xf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %c512 = arith.constant 512 : index
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%c1, %c128, %c512) step (%c1, %c1, %c1) {
    %x = memref.load %a[%i, %j, %k] : memref<1x128x512xf32>
    %e = math.exp %x : f32
    %y = arith.mulf %e, %s : f32
    memref.store %y, %b[%i, %j, %k] : memref<1x128x512xf32>
    scf.reduce
  }
  return
}

// -----

// Dynamic bounds: the loop is outlined whatever its size, and the index it
// reads travels as an i64.

// CHECK-LABEL: func.func @dynamic
// CHECK:         arith.index_cast %{{.*}} : index to i64
// CHECK:         call @attnres_parallel_for
// CHECK-LABEL: func.func private @dynamic_parallel0
// CHECK:         arith.index_cast %{{.*}} : i64 to index
// CHECK:         scf.parallel
func.func @dynamic(%a: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %f, %a[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// Left serial: a reduction, a body that calls a function, a loop nested in
// another (only the outer one moves), too little work.

// CHECK-LABEL: func.func @serial
// CHECK:         scf.parallel {{.*}} init
// CHECK:         scf.parallel
// CHECK:           func.call @g
// CHECK:         scf.parallel
// CHECK-NOT:     attnres_parallel_for
// CHECK:         return
func.func private @g(f32) -> f32
func.func @serial(%a: memref<65536xf32>, %b: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %n = arith.constant 65536 : index
  %zero = arith.constant 0.0 : f32
  %sum = scf.parallel (%i) = (%c0) to (%n) step (%c1) init (%zero) -> f32 {
    %x = memref.load %a[%i] : memref<65536xf32>
    scf.reduce(%x : f32) {
    ^bb0(%l: f32, %r: f32):
      %s = arith.addf %l, %r : f32
      scf.reduce.return %s : f32
    }
  }
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %x = memref.load %a[%i] : memref<65536xf32>
    %y = func.call @g(%x) : (f32) -> f32
    memref.store %y, %a[%i] : memref<65536xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %zero, %b[%i] : memref<8xf32>
    scf.reduce
  }
  return %sum : f32
}

// -----

// A row reduction: 128 parallel rows, each a loop of 512 (a norm's sum of
// squares). The work is 65536 iterations, not 128: it moves; with
// min-work=100000 it stays.

// CHECK-LABEL: func.func @row_sums
// CHECK:         call @attnres_parallel_for
// CHECK-NOT:     scf.parallel
// CHECK:         return
// SMALL-LABEL: func.func @row_sums
// SMALL:         scf.parallel
// SMALL:           scf.for
// SMALL-NOT:     attnres_parallel_for
func.func @row_sums(%x: memref<128x512xf32>, %out: memref<128xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %c512 = arith.constant 512 : index
  scf.parallel (%i) = (%c0) to (%c128) step (%c1) {
    scf.for %j = %c0 to %c512 step %c1 {
      %v = memref.load %x[%i, %j] : memref<128x512xf32>
      %acc = memref.load %out[%i] : memref<128xf32>
      %sq = arith.mulf %v, %v : f32
      %sum = arith.addf %acc, %sq : f32
      memref.store %sum, %out[%i] : memref<128xf32>
    }
    scf.reduce
  }
  return
}

// -----

// Dynamic batch and sequence: collapsed into one dim before the split, so
// that a batch of 1 at run time still gives the pool the whole sequence.
// Its work is unknown until it runs, so min-work leaves it parallel.
// SMALL: func.func private @attnres_parallel_for
// SMALL-LABEL: func.func @batch_and_sequence
// SMALL: call @attnres_parallel_for
// CHECK-LABEL: func.func @batch_and_sequence
// CHECK-SAME: (%[[A:.*]]: memref<?x?x64xf32>, %[[B:.*]]: index, %[[T:.*]]: index)
// CHECK: %[[B1:.*]] = arith.muli %{{.*}}, %[[B]] : index
// CHECK: %[[BT:.*]] = arith.muli %[[B1]], %[[T]] : index
// CHECK: %[[SPAN:.*]] = arith.subi %[[BT]], %{{.*}} : index
// CHECK: %[[TRIPS:.*]] = arith.ceildivsi %[[SPAN]], %{{.*}} : index
// CHECK: %[[N64:.*]] = arith.index_cast %[[TRIPS]] : index to i64
// CHECK: call @attnres_parallel_for(%{{.*}}, %{{.*}}, %[[N64]])
// CHECK-LABEL: func.func private @batch_and_sequence_parallel
// CHECK: scf.parallel (%[[I:.*]], %{{.*}}) =
// CHECK: arith.remsi %[[I]]
// CHECK: arith.divsi %[[I]]
func.func @batch_and_sequence(%a: memref<?x?x64xf32>, %b: index, %t: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%b, %t, %c64) step (%c1, %c1, %c1) {
    %x = memref.load %a[%i, %j, %k] : memref<?x?x64xf32>
    %y = math.exp %x : f32
    memref.store %y, %a[%i, %j, %k] : memref<?x?x64xf32>
    scf.reduce
  }
  return
}
