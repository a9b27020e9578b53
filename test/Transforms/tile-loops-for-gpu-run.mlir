// Tiling keeps what the loops compute. Sizes that are not multiples of the
// tiles (1000 over 256; 300 x 3 over 85 x 3; a dynamic 777 over 256) run
// on the CPU, tiled and not: every element is written once, with its own
// value, and nothing past the end.
// RUN: attnres-opt %s --pass-pipeline="builtin.module(func.func(attnres-tile-loops-for-gpu,convert-linalg-to-loops),expand-strided-metadata,lower-affine,convert-scf-to-cf,convert-to-llvm,reconcile-unrealized-casts)" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%llvm_lib_dir/libmlir_c_runner_utils.so | FileCheck %s
// RUN: attnres-opt %s --pass-pipeline="builtin.module(func.func(convert-linalg-to-loops),expand-strided-metadata,lower-affine,convert-scf-to-cf,convert-to-llvm,reconcile-unrealized-casts)" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%llvm_lib_dir/libmlir_c_runner_utils.so | FileCheck %s

// CHECK: 0
// CHECK-NEXT: 0
// CHECK-NEXT: 0

func.func private @printI64(i64)
func.func private @printNewline()

// out[i, j] += i * 1000 + j + 1 over 5 x 1000.
func.func @rows(%out: memref<5x1000xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c1000 = arith.constant 1000 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c5, %c1000) step (%c1, %c1) {
    %r = arith.muli %i, %c1000 : index
    %k = arith.addi %r, %j : index
    %k1 = arith.addi %k, %c1 : index
    %v = arith.index_cast %k1 : index to i64
    %old = memref.load %out[%i, %j] : memref<5x1000xi64>
    %new = arith.addi %old, %v : i64
    memref.store %new, %out[%i, %j] : memref<5x1000xi64>
    scf.reduce
  }
  return
}

// out[b, i, j] += (b * 300 + i) * 3 + j + 1 over 4 x 300 x 3.
func.func @short_rows(%out: memref<4x300x3xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c300 = arith.constant 300 : index
  scf.parallel (%b, %i, %j) = (%c0, %c0, %c0) to (%c4, %c300, %c3) step (%c1, %c1, %c1) {
    %r = arith.muli %b, %c300 : index
    %ri = arith.addi %r, %i : index
    %r3 = arith.muli %ri, %c3 : index
    %k = arith.addi %r3, %j : index
    %k1 = arith.addi %k, %c1 : index
    %v = arith.index_cast %k1 : index to i64
    %old = memref.load %out[%b, %i, %j] : memref<4x300x3xi64>
    %new = arith.addi %old, %v : i64
    memref.store %new, %out[%b, %i, %j] : memref<4x300x3xi64>
    scf.reduce
  }
  return
}

// out[i] += i + 1 over the first n of a buffer of n + 8 (the rest stays 0).
func.func @dynamic(%out: memref<?xi64>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %k1 = arith.addi %i, %c1 : index
    %v = arith.index_cast %k1 : index to i64
    %old = memref.load %out[%i] : memref<?xi64>
    %new = arith.addi %old, %v : i64
    memref.store %new, %out[%i] : memref<?xi64>
    scf.reduce
  }
  return
}

/// Prints how many elements of `m`, read flat, differ from e + 1 for e <
/// `n` and from 0 after.
func.func @mismatches(%m: memref<?xi64>, %size: index, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %count = scf.for %e = %c0 to %size step %c1 iter_args(%acc = %zero) -> (i64) {
    %v = memref.load %m[%e] : memref<?xi64>
    %e1 = arith.addi %e, %c1 : index
    %e64 = arith.index_cast %e1 : index to i64
    %inside = arith.cmpi ult, %e, %n : index
    %want = arith.select %inside, %e64, %zero : i64
    %bad = arith.cmpi ne, %v, %want : i64
    %inc = arith.select %bad, %one, %zero : i64
    %next = arith.addi %acc, %inc : i64
    scf.yield %next : i64
  }
  func.call @printI64(%count) : (i64) -> ()
  func.call @printNewline() : () -> ()
  return
}

func.func @main() {
  %zero = arith.constant 0 : i64
  %c777 = arith.constant 777 : index
  %c785 = arith.constant 785 : index
  %c3600 = arith.constant 3600 : index
  %c5000 = arith.constant 5000 : index

  %a = memref.alloc() : memref<5x1000xi64>
  linalg.fill ins(%zero : i64) outs(%a : memref<5x1000xi64>)
  func.call @rows(%a) : (memref<5x1000xi64>) -> ()
  %af = memref.collapse_shape %a [[0, 1]] : memref<5x1000xi64> into memref<5000xi64>
  %ad = memref.cast %af : memref<5000xi64> to memref<?xi64>
  func.call @mismatches(%ad, %c5000, %c5000) : (memref<?xi64>, index, index) -> ()

  %b = memref.alloc() : memref<4x300x3xi64>
  linalg.fill ins(%zero : i64) outs(%b : memref<4x300x3xi64>)
  func.call @short_rows(%b) : (memref<4x300x3xi64>) -> ()
  %bf = memref.collapse_shape %b [[0, 1, 2]] : memref<4x300x3xi64> into memref<3600xi64>
  %bd = memref.cast %bf : memref<3600xi64> to memref<?xi64>
  func.call @mismatches(%bd, %c3600, %c3600) : (memref<?xi64>, index, index) -> ()

  %d = memref.alloc(%c785) : memref<?xi64>
  linalg.fill ins(%zero : i64) outs(%d : memref<?xi64>)
  func.call @dynamic(%d, %c777) : (memref<?xi64>, index) -> ()
  func.call @mismatches(%d, %c785, %c777) : (memref<?xi64>, index, index) -> ()

  memref.dealloc %a : memref<5x1000xi64>
  memref.dealloc %b : memref<4x300x3xi64>
  memref.dealloc %d : memref<?xi64>
  return
}
