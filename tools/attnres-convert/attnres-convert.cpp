//===- attnres-convert.cpp - Block AttnRes models as ONNX -----------------===//
//
// Rewrites the PreNorm residual stream of an ONNX model into Block Attention
// Residuals and writes the result as ONNX, so that any ONNX runtime can run
// it: the original graph, with each aggregation a call of the model-local
// function ai.attnres.BlockAttnRes<N>.
//
//===----------------------------------------------------------------------===//

#include "attnres/Target/ONNXConvert/ONNXConvert.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("attnres-convert options");

static cl::opt<std::string>
    inputFilename(cl::Positional, cl::desc("<model.onnx>"), cl::cat(category));

static cl::opt<std::string> outputFilename(
    "o",
    cl::desc("The converted model (.onnx); written only when the conversion "
             "succeeds. External data files of the model are copied next to it "
             "when it goes to another folder"),
    cl::value_desc("file"), cl::cat(category));

static cl::opt<unsigned> numBlocks(
    "num-blocks",
    cl::desc("Number of blocks N the layers are split into (0, the default: "
             "one block per layer, Full AttnRes)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));

static cl::list<unsigned>
    blockSizes("block-sizes",
               cl::desc("Layers per block (e.g. 3,3,2), overriding the even "
                        "split; they must add up to the stream's layers"),
               cl::value_desc("A,B,..."), cl::CommaSeparated,
               cl::cat(category));

static cl::opt<std::string> pseudoQueries(
    "pseudo-queries",
    cl::desc("An .npz with queries f32[L+1, D] and optionally "
             "key_norm_weights f32[L+1, D]. Without it the queries are zero "
             "and each reader norm's epsilon is divided by c^2, c its "
             "aggregation's sources, so the model computes what it did"),
    cl::value_desc("file.npz"), cl::cat(category));

static cl::opt<float> keyNormEpsilon(
    "key-norm-epsilon",
    cl::desc("Epsilon of the key RMSNorm in every aggregation (default "
             "1e-6)"),
    cl::init(attnres::kDefaultKeyNormEpsilon), cl::cat(category));

static cl::opt<bool>
    report("report",
           cl::desc("Print the blocks and a table of the aggregations (their "
                    "sources, the node that reads each, the norm's epsilon) "
                    "to standard output"),
           cl::init(false), cl::cat(category));

static cl::opt<bool> canonicalizeAttnRes(
    "canonicalize",
    cl::desc("For a model that already is AttnRes (exported from PyTorch with "
             "its aggregations written out): replace each aggregation that "
             "--attnres-raise-aggregation recognizes by a call of "
             "ai.attnres.BlockAttnRes<N>, with the same parameters; the "
             "blocks and queries options do not apply"),
    cl::init(false), cl::cat(category));

static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix the shape of a graph input for the analysis, e.g. "
             "input_ids=1x16 (the output keeps the model's own shapes); "
             "repeatable"),
    cl::value_desc("NAME=DIMS"), cl::cat(category));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnres-convert: rewrite the PreNorm residual stream of an ONNX model "
      "into Block Attention Residuals and write it as ONNX\n\n"
      "  attnres-convert model.onnx -o model_attnres.onnx [--num-blocks N]\n"
      "  attnres-convert attnres_model.onnx -o out.onnx --canonicalize\n\n"
      "The analysis and its refusals are --attnres-residual-to-block's; the "
      "output is the original model with its residual adds replaced by the "
      "partial block sums and each norm reading a call of the model-local "
      "function ai.attnres.BlockAttnRes<N> (standard ONNX ops, so any ONNX "
      "runtime runs it; attnres imports the call as attnres.block_attn_res). "
      "docs/tools.md, 'attnres-convert', explains the output.\n");

  if (inputFilename.empty()) {
    llvm::errs() << "attnres-convert: no input model (see --help)\n";
    return 1;
  }
  if (outputFilename.empty() || outputFilename == "-") {
    llvm::errs() << "attnres-convert: name the output model with -o FILE "
                    "(it is binary, and its external data goes next to it)\n";
    return 1;
  }

  attnres::ONNXConvertOptions options;
  options.blocks.numBlocks = numBlocks;
  options.blocks.blockSizes.assign(blockSizes.begin(), blockSizes.end());
  options.blocks.pseudoQueries = pseudoQueries;
  options.keyNormEpsilon = keyNormEpsilon;
  options.canonicalize = canonicalizeAttnRes;
  if (canonicalizeAttnRes &&
      (numBlocks.getNumOccurrences() || !blockSizes.empty() ||
       !pseudoQueries.empty() || keyNormEpsilon.getNumOccurrences())) {
    llvm::errs() << "attnres-convert: --canonicalize keeps the model's own "
                    "blocks and parameters; --num-blocks, --block-sizes, "
                    "--pseudo-queries and --key-norm-epsilon do not apply\n";
    return 1;
  }
  for (const std::string &spec : inputShapes) {
    std::string error = attnres::parseInputShapeSpec(spec, options.import);
    if (!error.empty()) {
      llvm::errs() << "attnres-convert: --input-shape: " << error << "\n";
      return 1;
    }
  }

  DialectRegistry registry;
  attnres::registerONNXImportDialects(registry);
  MLIRContext context(registry);
  // The IR is the analysis's, not the user's: diagnostics name ONNX nodes.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  if (failed(attnres::convertONNXModel(inputFilename, outputFilename, &context,
                                       options,
                                       report ? &llvm::outs() : nullptr)))
    return 1;
  return 0;
}
