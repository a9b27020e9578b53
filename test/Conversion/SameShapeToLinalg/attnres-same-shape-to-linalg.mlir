// RUN: attnres-opt %s --split-input-file --attnres-same-shape-to-linalg | FileCheck %s

// Marked ops become one linalg.generic, sized by the operands' own dims;
// a static unit dim broadcasts; no scf.if.
// CHECK-LABEL: func.func @marked
// CHECK-SAME: (%[[A:.*]]: tensor<?x?x8xf32>, %[[B:.*]]: tensor<?x?x8xf32>, %[[R:.*]]: tensor<?x?x1xf32>, %[[M:.*]]: tensor<1x1x?x?xi1>, %[[S:.*]]: tensor<?x4x?x?xf32>)
// CHECK-DAG: %[[D0:.*]] = tensor.dim %[[A]], %c0
// CHECK-DAG: %[[D1:.*]] = tensor.dim %[[A]], %c1
// CHECK: %[[E:.*]] = tensor.empty(%[[D0]], %[[D1]]) : tensor<?x?x8xf32>
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[B]] : tensor<?x?x8xf32>, tensor<?x?x8xf32>) outs(%[[E]] : tensor<?x?x8xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[BCAST:.*]], #{{.*}}]{{.*}} ins(%[[SUM]], %[[R]] : tensor<?x?x8xf32>, tensor<?x?x1xf32>)
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} ins(%[[M]], %{{.*}}, %[[S]] : tensor<1x1x?x?xi1>, tensor<1x1x1x1xf32>, tensor<?x4x?x?xf32>)
// CHECK: arith.select
// CHECK-NOT: scf.if
// CHECK-NOT: tosa.
func.func @marked(%a: tensor<?x?x8xf32>, %b: tensor<?x?x8xf32>, %r: tensor<?x?x1xf32>, %m: tensor<1x1x?x?xi1>, %s: tensor<?x4x?x?xf32>) -> (tensor<?x?x8xf32>, tensor<?x4x?x?xf32>) {
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %ninf = "tosa.const"() <{values = dense<0xFF800000> : tensor<1x1x1x1xf32>}> : () -> tensor<1x1x1x1xf32>
  %sum = tosa.add %a, %b {attnres.same_shape} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %y = tosa.mul %sum, %r, %shift {attnres.same_shape} : (tensor<?x?x8xf32>, tensor<?x?x1xf32>, tensor<1xi8>) -> tensor<?x?x8xf32>
  %masked = tosa.select %m, %ninf, %s {attnres.same_shape} : (tensor<1x1x?x?xi1>, tensor<1x1x1x1xf32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  return %y, %masked : tensor<?x?x8xf32>, tensor<?x4x?x?xf32>
}

// -----

// Unmarked ops, whose sizes nobody vouched for, stay for tosa-to-linalg and
// its run-time checks.
// CHECK-LABEL: func.func @unmarked
// CHECK: tosa.add
// CHECK-NOT: linalg.generic
func.func @unmarked(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %sum = tosa.add %a, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %sum : tensor<?x8xf32>
}
