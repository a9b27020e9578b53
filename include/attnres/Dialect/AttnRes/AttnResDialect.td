//===- AttnResDialect.td - AttnRes dialect definition ------*- tablegen -*-===//
//
// The attnres dialect: depth aggregation for (Block) Attention Residuals.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_TD
#define ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_TD

include "mlir/IR/OpBase.td"

def AttnRes_Dialect : Dialect {
  let name = "attnres";
  let cppNamespace = "::mlir::attnres";
  let summary = "Depth aggregation for Block Attention Residuals";
  let description = [{
    Attention Residuals replace the fixed residual sum of a PreNorm transformer
    with a learned softmax over depth. Instead of `h_l = h_{l-1} + f_l(...)`,
    the input of layer `l` is

    ```
    h_l = sum_i alpha_{i->l} v_i,
    alpha_{i->l} = softmax_i(w_l . RMSNorm_{g_l}(v_i))
    ```

    over the depth sources `v_i` (the embedding, the completed block
    summaries and the current partial block sum in the Block variant), with
    one pseudo-query `w_l` and one key-norm weight `g_l` per layer.

    The dialect holds the operations that model this aggregation on tensors,
    together with the RMSNorm it fuses with. They lower to linalg for the CPU
    (`--attnres-to-linalg`) and compose with upstream tensor dialects
    (TOSA, linalg, tensor, arith).
  }];
}

class AttnRes_Op<string mnemonic, list<Trait> traits = []>
    : Op<AttnRes_Dialect, mnemonic, traits>;

#endif // ATTNRES_DIALECT_ATTNRES_ATTNRESDIALECT_TD
