// RUN: attnres-opt %s --split-input-file --attnres-tile-loops-for-gpu | FileCheck %s
// RUN: attnres-opt %s --split-input-file --attnres-tile-loops-for-gpu="threads=64" | FileCheck %s --check-prefix=T64
// RUN: not attnres-opt %s --split-input-file --attnres-tile-loops-for-gpu="threads=2048" 2>&1 | FileCheck %s --check-prefix=THREADS
// THREADS: error: attnres-tile-loops-for-gpu: threads must be 1 to 1024, got 2048
// Mapped innermost-first, the tile loop is a block's threads.
// RUN: attnres-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(attnres-tile-loops-for-gpu,gpu-map-parallel-loops{mapping-policy=innermost-first}))" | FileCheck %s --check-prefix=MAPPED

// The last dimension takes the whole budget.
// (Canonicalization would merge the two loops again: the pipeline maps them
// first.)
// CHECK-LABEL: func.func @rows
// CHECK:         %[[C256:.+]] = arith.constant 256 : index
// CHECK:         %[[STEP:.+]] = arith.muli %{{.+}}, %[[C256]] : index
// The block loop is collapsed to one dimension, the grid's x: the y and z
// dimensions of a grid take 65535 blocks at most, too few rows for long
// prompts.
// CHECK:         scf.parallel (%[[B:[^)]+]]) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK:           %[[TILEJ:.+]] = arith.remsi %[[B]]
// CHECK:           arith.divsi %[[B]]
// CHECK:           %[[J:.+]] = affine.apply #{{.+}}(%[[TILEJ]])[%[[STEP]]]
// CHECK:           scf.parallel (%[[TI:.+]], %[[TJ:.+]]) = {{.*}} to (%{{.+}}, %[[STEP]]) step
// CHECK:             arith.addi %[[TJ]], %[[J]]
// CHECK:             memref.load
// T64-LABEL: func.func @rows
// T64:         arith.constant 64 : index
// MAPPED-LABEL: func.func @rows
// MAPPED:       processor = thread_y
// MAPPED-SAME:  processor = thread_x
// MAPPED:       mapping = [#gpu.loop_dim_map<processor = block_x
// MAPPED-NOT:   block_y
func.func @rows(%in: memref<16x1024xf32>, %out: memref<16x1024xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c1024 = arith.constant 1024 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c16, %c1024) step (%c1, %c1) {
    %v = memref.load %in[%i, %j] : memref<16x1024xf32>
    %w = arith.addf %v, %v : f32
    memref.store %w, %out[%i, %j] : memref<16x1024xf32>
    scf.reduce
  }
  return
}

// -----

// A short last dimension is taken whole; the one before it gets the rest of
// the budget (2 x 128 = 256 threads). Earlier dimensions stay in the grid,
// collapsed with the others into its x.
// CHECK-LABEL: func.func @short_rows
// CHECK:         %[[C128:.+]] = arith.constant 128 : index
// CHECK:         %[[C2:.+]] = arith.constant 2 : index
// CHECK:         %[[S0:.+]] = arith.muli %{{.+}}, %{{.+}} : index
// CHECK:         %[[S1:.+]] = arith.muli %{{.+}}, %[[C128]] : index
// CHECK:         %[[S2:.+]] = arith.muli %{{.+}}, %[[C2]] : index
// CHECK:         scf.parallel (%{{[^,)]+}}) = {{.*}} {
// CHECK:           scf.parallel {{.*}} to (%[[S0]], %[[S1]], %[[S2]])
func.func @short_rows(%in: memref<4x512x2xf32>, %out: memref<4x512x2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c512 = arith.constant 512 : index
  scf.parallel (%b, %i, %j) = (%c0, %c0, %c0) to (%c4, %c512, %c2) step (%c1, %c1, %c1) {
    %v = memref.load %in[%b, %i, %j] : memref<4x512x2xf32>
    memref.store %v, %out[%b, %i, %j] : memref<4x512x2xf32>
    scf.reduce
  }
  return
}

// -----

// A dynamic size gets the whole budget, with the tile's bound clipped to
// what is left of it.
// CHECK-LABEL: func.func @dynamic
// CHECK:         scf.parallel
// CHECK:           affine.min
// CHECK:           scf.parallel
func.func @dynamic(%in: memref<?xf32>, %out: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %v = memref.load %in[%i] : memref<?xf32>
    memref.store %v, %out[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// One iteration: nothing to tile.
// CHECK-LABEL: func.func @single
// CHECK:         scf.parallel
// CHECK-NOT:     scf.parallel
func.func @single(%out: memref<1xf32>, %x: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%c1) step (%c1) {
    memref.store %x, %out[%i] : memref<1xf32>
    scf.reduce
  }
  return
}
