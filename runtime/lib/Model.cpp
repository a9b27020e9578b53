//===- Model.cpp - Load and run compiled models ---------------------------===//
//
// The C ABI of Model.h over a packed entry point, whichever made it: dlopen
// of an artifact, or the JIT (makeModel). Nothing here may use LLVM or MLIR:
// this is the runtime that ships with artifacts.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Model.h"
#include "CUDADriver.h"
#include "Memory.h"
#include "PackedProducts.h"
#include "attnres/Runtime/Artifact.h"
#include "attnres/Runtime/CUDA.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include <cerrno>

using namespace mlir::attnres::runtime;

namespace {
thread_local std::string lastError;

constexpr const char kMagic[] = "attnres-artifact";
} // namespace

void mlir::attnres::runtime::setLastError(std::string message) {
  lastError = std::move(message);
}

extern "C" const char *attnres_last_error(void) { return lastError.c_str(); }

extern "C" size_t attnres_dtype_size(attnres_dtype dtype) {
  switch (dtype) {
  case ATTNRES_F64:
  case ATTNRES_I64:
    return 8;
  case ATTNRES_F32:
  case ATTNRES_I32:
    return 4;
  case ATTNRES_F16:
  case ATTNRES_I16:
    return 2;
  default:
    return 1;
  }
}

extern "C" const char *attnres_dtype_name(attnres_dtype dtype) {
  static const char *const names[] = {"float16", "float32", "float64",
                                      "int8",    "int16",   "int32",
                                      "int64",   "uint8",   "bool"};
  unsigned i = unsigned(dtype);
  return i < sizeof(names) / sizeof(names[0]) ? names[i] : "?";
}

//===----------------------------------------------------------------------===//
// Signatures
//===----------------------------------------------------------------------===//

std::string
mlir::attnres::runtime::encodeSignature(const Signature &signature) {
  std::ostringstream os;
  os << kMagic << ' ' << ATTNRES_ABI_VERSION << '\n';
  if (signature.needsBLAS)
    os << "needs blas\n";
  if (signature.needsCUDA)
    os << "needs cuda\n";
  if (signature.needsCUBLAS)
    os << "needs cublas\n";
  auto emit = [&](const char *kind, const TensorInfo &t) {
    os << kind << ' ' << int(t.dtype) << ' ' << t.shape.size();
    for (int64_t d : t.shape)
      os << ' ' << d;
    os << ' ' << t.name.size() << ':' << t.name << '\n';
  };
  for (const TensorInfo &t : signature.inputs)
    emit("in", t);
  for (const TensorInfo &t : signature.outputs)
    emit("out", t);
  // Named and bounded dims of inputs: "dim INPUT AXIS MAX NAME".
  for (size_t n = 0; n < signature.inputs.size(); ++n) {
    const TensorInfo &t = signature.inputs[n];
    for (size_t axis = 0; axis < t.shape.size(); ++axis) {
      std::string name = axis < t.dimNames.size() ? t.dimNames[axis] : "";
      int64_t max = axis < t.maxShape.size() ? t.maxShape[axis] : -1;
      if (name.empty() && max < 0)
        continue;
      os << "dim " << n << ' ' << axis << ' ' << max << ' ' << name.size()
         << ':' << name << '\n';
    }
  }
  return os.str();
}

std::string mlir::attnres::runtime::decodeSignature(const char *text,
                                                    size_t size,
                                                    Signature &signature) {
  std::istringstream is(std::string(text, size));
  std::string magic;
  int version = -1;
  if (!(is >> magic >> version) || magic != kMagic)
    return "no attnres signature";
  if (version != ATTNRES_ABI_VERSION)
    return "built for ABI version " + std::to_string(version) +
           ", this runtime reads version " +
           std::to_string(ATTNRES_ABI_VERSION) +
           "; compile it again with this release";
  std::string kind;
  while (is >> kind) {
    if (kind == "needs") {
      std::string what;
      is >> what;
      if (what == "blas")
        signature.needsBLAS = true;
      else if (what == "cuda")
        signature.needsCUDA = true;
      else if (what == "cublas")
        signature.needsCUBLAS = true;
      else
        return "needs '" + what + "', which this runtime does not provide";
      continue;
    }
    if (kind == "dim") {
      size_t input = 0, axis = 0, nameSize = 0;
      int64_t max = -1;
      char colon = 0;
      if (!(is >> input >> axis >> max >> nameSize) || !is.get(colon) ||
          colon != ':' || input >= signature.inputs.size() ||
          axis >= signature.inputs[input].shape.size() || max < -1 ||
          nameSize > size)
        return "bad dim entry";
      TensorInfo &t = signature.inputs[input];
      t.dimNames.resize(t.shape.size());
      t.maxShape.resize(t.shape.size(), -1);
      t.dimNames[axis].resize(nameSize);
      if (!is.read(t.dimNames[axis].data(), std::streamsize(nameSize)))
        return "bad dim entry";
      t.maxShape[axis] = max;
      continue;
    }
    if (kind != "in" && kind != "out")
      return "unknown signature entry '" + kind + "'";
    TensorInfo t;
    int dtype = -1;
    size_t rank = 0, nameSize = 0;
    if (!(is >> dtype >> rank) || dtype < 0 || dtype > ATTNRES_BOOL ||
        rank > 64)
      return "bad tensor entry";
    t.dtype = attnres_dtype(dtype);
    t.shape.resize(rank);
    for (int64_t &d : t.shape)
      if (!(is >> d) || d < -1)
        return "bad tensor shape";
    char colon = 0;
    if (!(is >> nameSize) || !is.get(colon) || colon != ':' || nameSize > size)
      return "bad tensor name";
    t.name.resize(nameSize);
    if (!is.read(t.name.data(), std::streamsize(nameSize)))
      return "bad tensor name";
    (kind == "in" ? signature.inputs : signature.outputs).push_back(t);
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Models
//===----------------------------------------------------------------------===//

struct attnres_model {
  Signature signature;
  std::vector<attnres_tensor_info> inputInfos, outputInfos;
  PackedEntry entry = nullptr;
  void (*release)(void *) = nullptr;
  void *owner = nullptr;
  /// The buffers of earlier runs, for the next.
  BufferPool pool;
  /// The weights packed for the products that read them, when the model's
  /// weights are mapped (a loaded artifact's).
  std::unique_ptr<PackedProducts> packedProducts;

  ~attnres_model() {
    if (release)
      release(owner);
    // The buffers its runs left for reuse (and their device memory) go
    // with it.
    if (signature.needsCUDA)
      attnres::cuda::releaseCachedMemory();
  }

  void describe() {
    auto infos = [](std::vector<TensorInfo> &tensors,
                    std::vector<attnres_tensor_info> &out) {
      for (TensorInfo &t : tensors)
        out.push_back(
            {t.name.c_str(), t.dtype, int32_t(t.shape.size()), t.shape.data()});
    };
    infos(signature.inputs, inputInfos);
    infos(signature.outputs, outputInfos);
  }
};

attnres_model *mlir::attnres::runtime::makeModel(const Signature &signature,
                                                 PackedEntry entry,
                                                 void (*release)(void *),
                                                 void *owner) {
  auto *model = new attnres_model();
  model->signature = signature;
  model->entry = entry;
  model->release = release;
  model->owner = owner;
  model->describe();
  return model;
}

namespace {
/// What a loaded artifact holds: the library and its mapped weights.
struct LoadedLibrary {
  void *handle = nullptr;
  void *weights = nullptr;
  size_t weightsSize = 0;
  /// A CUDA artifact's weights, copied into device memory.
  void *deviceWeights = nullptr;

  ~LoadedLibrary() {
    if (handle)
      dlclose(handle);
    if (weights)
      munmap(weights, weightsSize);
    if (deviceWeights)
      mgpuMemFree(deviceWeights, nullptr);
  }
};
} // namespace

/// The libraries loaded now, by dlopen handle. dlopen gives every load of
/// one file the same library, whose weights pointer is one global: models
/// of one file share one LoadedLibrary, so that destroying one does not
/// unmap the weights another still reads.
static std::mutex loadedMutex;
static std::map<void *, std::weak_ptr<LoadedLibrary>> &loadedLibraries() {
  static auto *libraries = new std::map<void *, std::weak_ptr<LoadedLibrary>>;
  return *libraries;
}

static void releaseLibrary(void *library) {
  auto *shared = static_cast<std::shared_ptr<LoadedLibrary> *>(library);
  void *handle = (*shared)->handle;
  {
    std::lock_guard<std::mutex> lock(loadedMutex);
    if (shared->use_count() == 1)
      loadedLibraries().erase(handle);
  }
  delete shared;
}

/// Maps the weights stored after the library in `path` (Artifact.h's
/// WeightsTrailer); returns "" or what is wrong.
static std::string mapWeights(const std::string &path, LoadedLibrary &library) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::strerror(errno);
  struct stat status;
  WeightsTrailer trailer;
  std::string error;
  if (fstat(fd, &status) != 0 || uint64_t(status.st_size) < sizeof trailer ||
      pread(fd, &trailer, sizeof trailer,
            off_t(status.st_size - sizeof trailer)) !=
          ssize_t(sizeof trailer) ||
      std::memcmp(trailer.magic, kWeightsTrailerMagic, sizeof trailer.magic))
    error = "its weights are missing (the file is cut short)";
  else if (trailer.offset % kWeightsAlignment != 0 ||
           trailer.offset > uint64_t(status.st_size) ||
           trailer.size !=
               uint64_t(status.st_size) - sizeof trailer - trailer.offset)
    error = "its weights trailer is damaged";
  if (error.empty() && trailer.size) {
    void *base = mmap(nullptr, trailer.size, PROT_READ, MAP_PRIVATE, fd,
                      off_t(trailer.offset));
    if (base == MAP_FAILED)
      error = std::string("cannot map its weights: ") + std::strerror(errno);
    else {
      library.weights = base;
      library.weightsSize = trailer.size;
    }
  }
  close(fd);
  return error;
}

/// dlopen maps the segments a file's program headers name without checking
/// that the file holds them, so a cut file (a copy interrupted, a full disk)
/// would load and fault on first touch. Returns "" or why `path` cannot be a
/// whole shared library of this machine.
static std::string checkELF(const std::string &path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    return std::string(std::strerror(errno));
  uint64_t size = uint64_t(file.tellg());
  Elf64_Ehdr header;
  file.seekg(0);
  if (size < sizeof header ||
      !file.read(reinterpret_cast<char *>(&header), sizeof header) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    return "not an ELF file";
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_type != ET_DYN ||
      header.e_phentsize != sizeof(Elf64_Phdr))
    return "not a 64-bit shared library";
  auto within = [&](uint64_t offset, uint64_t bytes) {
    return offset <= size && bytes <= size - offset;
  };
  if (!within(header.e_phoff, uint64_t(header.e_phnum) * sizeof(Elf64_Phdr)) ||
      !within(header.e_shoff, uint64_t(header.e_shnum) * header.e_shentsize))
    return "the file is cut short (its headers lie past its end)";
  file.seekg(std::streamoff(header.e_phoff));
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    if (!file.read(reinterpret_cast<char *>(&segment), sizeof segment))
      return "unreadable program headers";
    if (segment.p_type == PT_LOAD &&
        !within(segment.p_offset, segment.p_filesz))
      return "the file is cut short (a segment lies past its end)";
  }
  return "";
}

extern "C" attnres_model *attnres_model_load(const char *path) {
  std::string where = std::string("'") + path + "'";
  // A name without a slash would be searched for in the library path.
  std::string file = std::strchr(path, '/') ? path : std::string("./") + path;
  if (std::string error = checkELF(file); !error.empty()) {
    setLastError("cannot load " + where + ": " + error);
    return nullptr;
  }
  // Artifacts call the runtime by name. A host that opened the runtime
  // with RTLD_LOCAL (Python loading an extension that links it) hides its
  // symbols from them: make this library's symbols global first.
  static const bool runtimeIsGlobal = [] {
    Dl_info self;
    return dladdr(reinterpret_cast<void *>(&attnres_model_load), &self) &&
           self.dli_fname &&
           dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
  }();
  (void)runtimeIsGlobal;
  // RTLD_LOCAL: two artifacts define the same symbol names.
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    setLastError("cannot load " + where + ": " + (why ? why : "dlopen failed"));
    return nullptr;
  }
  auto *text = reinterpret_cast<const char *>(dlsym(handle, kSignatureSymbol));
  auto entry = reinterpret_cast<PackedEntry>(dlsym(handle, kEntrySymbol));
  if (!text || !entry) {
    dlclose(handle);
    setLastError(where +
                 " is not an attnres artifact (no attnres_artifact_signature "
                 "or attnres_artifact_entry); make one with attnres-compile");
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(loadedMutex);
  std::shared_ptr<LoadedLibrary> library;
  if (auto it = loadedLibraries().find(handle); it != loadedLibraries().end())
    library = it->second.lock();
  // A library loaded before is bound to its weights already: this load's
  // reference is not needed, nor a second mapping.
  bool bound = bool(library);
  if (bound) {
    dlclose(handle);
  } else {
    library = std::make_shared<LoadedLibrary>();
    library->handle = handle;
  }
  Signature signature;
  std::string error = decodeSignature(text, std::strlen(text), signature);
  if (error.empty() && signature.needsBLAS)
    error = loadBLAS();
  if (error.empty() && signature.needsCUDA) {
    char why[512];
    if (!attnres_cuda_available(why, sizeof why))
      error = std::string("it runs on a CUDA device, and none is usable "
                          "here: ") +
              why;
  }
  if (error.empty() && signature.needsCUBLAS)
    error = loadCUBLAS();
  using BindFn = void (*)(const char *);
  if (auto bind = reinterpret_cast<BindFn>(dlsym(handle, kBindWeightsSymbol));
      bind && !bound && error.empty()) {
    error = mapWeights(file, *library);
    if (error.empty() && signature.needsCUDA && library->weights) {
      // Kernels cannot read the mapped file; the copy in device memory
      // replaces it. Host code reads none of it (the GPU pipeline keeps
      // the constants it reads in the library).
      library->deviceWeights =
          mgpuMemAlloc(library->weightsSize, nullptr, /*isHostShared=*/false);
      attnres::cuda::copy(library->deviceWeights, library->weights,
                          library->weightsSize);
      munmap(library->weights, library->weightsSize);
      library->weights = nullptr;
    }
    if (error.empty())
      bind(static_cast<const char *>(
          library->deviceWeights ? library->deviceWeights : library->weights));
  }
  if (!error.empty()) {
    setLastError("cannot load " + where + ": " + error);
    return nullptr;
  }
  if (!bound)
    loadedLibraries()[handle] = library;
  const void *weights = library->weights;
  size_t weightsSize = library->weightsSize;
  attnres_model *model =
      makeModel(signature, entry, releaseLibrary,
                new std::shared_ptr<LoadedLibrary>(std::move(library)));
  if (weights)
    attachWeights(model, weights, weightsSize);
  return model;
}

void mlir::attnres::runtime::attachWeights(attnres_model *model,
                                           const void *weights, size_t size) {
  model->packedProducts = std::make_unique<PackedProducts>(weights, size);
}

extern "C" void attnres_model_destroy(attnres_model *model) { delete model; }

extern "C" size_t
attnres_model_packed_weight_bytes(const attnres_model *model) {
  return model->packedProducts ? model->packedProducts->packedBytes() : 0;
}

extern "C" const char *attnres_model_device(const attnres_model *model) {
  return model->signature.needsCUDA ? "cuda" : "cpu";
}

extern "C" int attnres_model_num_inputs(const attnres_model *model) {
  return int(model->inputInfos.size());
}

extern "C" int attnres_model_num_outputs(const attnres_model *model) {
  return int(model->outputInfos.size());
}

extern "C" const attnres_tensor_info *
attnres_model_input(const attnres_model *model, int i) {
  if (i < 0 || size_t(i) >= model->inputInfos.size())
    return nullptr;
  return &model->inputInfos[i];
}

extern "C" const attnres_tensor_info *
attnres_model_output(const attnres_model *model, int i) {
  if (i < 0 || size_t(i) >= model->outputInfos.size())
    return nullptr;
  return &model->outputInfos[i];
}

extern "C" void attnres_tensor_free(attnres_tensor *tensor) {
  if (!tensor)
    return;
  std::free(tensor->shape);
  std::free(tensor->data);
  tensor->shape = nullptr;
  tensor->data = nullptr;
}

static std::string describe(attnres_dtype dtype, const int64_t *shape,
                            size_t rank) {
  std::string s = std::string(attnres_dtype_name(dtype)) + "[";
  for (size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") +
         (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return s + "]";
}

static int64_t numElements(const int64_t *shape, size_t rank) {
  int64_t n = 1;
  for (size_t i = 0; i < rank; ++i)
    n *= shape[i];
  return n;
}

namespace {
/// A memref descriptor of any rank: {allocated, aligned, offset, sizes[R],
/// strides[R]}, all 8-byte fields.
struct Descriptor {
  explicit Descriptor(size_t rank) : fields(3 + 2 * rank, 0) {}
  std::vector<int64_t> fields;
};
} // namespace

/// Dims bounded at compile time stay within their bounds, and dims of one
/// name (a batch, a sequence) agree across inputs: the compiled code takes
/// them as one size and would read past the smaller.
static std::string checkNamedDims(const Signature &sig,
                                  const attnres_tensor *inputs) {
  std::map<std::string, std::pair<size_t, size_t>> first;
  auto dimText = [&](size_t n, size_t axis) {
    const std::string &name = sig.inputs[n].dimNames[axis];
    return "input '" + sig.inputs[n].name + "' has " +
           std::to_string(inputs[n].shape[axis]) + " in dim " +
           std::to_string(axis) + (name.empty() ? "" : " (" + name + ")");
  };
  for (size_t n = 0; n < sig.inputs.size(); ++n) {
    const TensorInfo &t = sig.inputs[n];
    for (size_t axis = 0; axis < t.maxShape.size(); ++axis) {
      int64_t max = t.maxShape[axis];
      if (max >= 0 && inputs[n].shape[axis] > max)
        return dimText(n, axis) + ", beyond the bound " + std::to_string(max) +
               " it was compiled for (attnres-compile --max-dims)";
    }
    for (size_t axis = 0; axis < t.dimNames.size(); ++axis) {
      const std::string &name = t.dimNames[axis];
      if (name.empty())
        continue;
      auto [it, inserted] = first.try_emplace(name, n, axis);
      if (inserted)
        continue;
      auto [n0, axis0] = it->second;
      if (inputs[n0].shape[axis0] != inputs[n].shape[axis])
        return dimText(n, axis) + " but " + dimText(n0, axis0) +
               ": the model names both '" + name + "', one size";
    }
  }
  return "";
}

namespace {
/// Where attnres_check_failed returns to: the innermost run on this thread.
thread_local std::jmp_buf *checkTarget = nullptr;
thread_local std::string checkMessage;

/// Calls a model's entry; false when one of its run-time checks failed.
/// Nothing between here and the check has destructors to run: the frames
/// in between are compiled code.
bool callEntry(void (*entry)(void **), void **args) {
  std::jmp_buf target;
  std::jmp_buf *outer = checkTarget;
  checkTarget = &target;
  if (setjmp(target)) {
    checkTarget = outer;
    return false;
  }
  entry(args);
  checkTarget = outer;
  return true;
}
} // namespace

/// What compiled code calls when a run-time check fails (--attnres-checks-
/// to-runtime): the run ends with an error carrying `message`.
extern "C" [[noreturn]] void attnres_check_failed(const char *message) {
  if (!checkTarget) {
    std::fprintf(stderr, "attnres: %s\n", message);
    std::abort();
  }
  checkMessage = message;
  std::longjmp(*checkTarget, 1);
}

extern "C" int attnres_model_run(attnres_model *model,
                                 const attnres_tensor *inputs,
                                 attnres_tensor *outputs) {
  const Signature &sig = model->signature;
  for (size_t n = 0; n < sig.inputs.size(); ++n) {
    const TensorInfo &want = sig.inputs[n];
    const attnres_tensor &got = inputs[n];
    bool ok = got.dtype == want.dtype && got.rank >= 0 &&
              size_t(got.rank) == want.shape.size() &&
              (got.data || got.rank == 0 || !numElements(got.shape, got.rank));
    for (size_t i = 0; ok && i < want.shape.size(); ++i)
      ok = got.shape[i] >= 0 &&
           (want.shape[i] < 0 || want.shape[i] == got.shape[i]);
    if (!ok) {
      setLastError("input '" + want.name + "' is " +
                   describe(got.dtype, got.shape, std::max(got.rank, 0)) +
                   " but the model takes " +
                   describe(want.dtype, want.shape.data(), want.shape.size()));
      return 1;
    }
  }
  if (std::string error = checkNamedDims(sig, inputs); !error.empty()) {
    setLastError(error);
    return 1;
  }

  // GPU buffers of a CUDA model's run, the input copies among them; freed
  // last, after the results are copied out.
  std::optional<attnres::cuda::RunAllocations> deviceBuffers;
  if (sig.needsCUDA)
    deviceBuffers.emplace();
  // The compiled code may update its arguments in place: pass copies.
  std::vector<std::vector<char>> buffers;
  std::vector<Descriptor> argDescs;
  for (size_t n = 0; n < sig.inputs.size(); ++n) {
    const attnres_tensor &in = inputs[n];
    size_t bytes =
        size_t(numElements(in.shape, in.rank)) * attnres_dtype_size(in.dtype);
    void *copy = nullptr;
    if (sig.needsCUDA) {
      copy = mgpuMemAlloc(std::max<size_t>(bytes, 1), nullptr,
                          /*isHostShared=*/false);
      if (bytes)
        attnres::cuda::copy(copy, in.data, bytes);
    } else {
      buffers.emplace_back(std::max<size_t>(bytes, 1));
      copy = buffers.back().data();
      if (bytes)
        std::memcpy(copy, in.data, bytes);
    }
    Descriptor d(in.rank);
    auto ptr = reinterpret_cast<int64_t>(copy);
    d.fields[0] = d.fields[1] = ptr;
    int64_t stride = 1;
    for (int64_t i = int64_t(in.rank) - 1; i >= 0; --i) {
      d.fields[3 + i] = in.shape[i];
      d.fields[3 + in.rank + i] = stride;
      stride *= in.shape[i];
    }
    argDescs.push_back(std::move(d));
  }
  // Results come back as one struct of descriptors.
  size_t resultWords = 0;
  for (const TensorInfo &t : sig.outputs)
    resultWords += 3 + 2 * t.shape.size();
  std::vector<int64_t> results(std::max<size_t>(resultWords, 1), 0);

  std::vector<void *> pointers;
  if (!sig.outputs.empty())
    pointers.push_back(results.data());
  for (Descriptor &d : argDescs)
    pointers.push_back(d.fields.data());
  std::vector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  AllocationScope allocations(&model->pool);
  PackedProducts::Scope products(model->packedProducts.get());
  if (!callEntry(model->entry, packed.data())) {
    setLastError("a run-time check of the model failed: " + checkMessage);
    return 1;
  }

  size_t at = 0;
  for (size_t n = 0; n < sig.outputs.size(); ++n) {
    const TensorInfo &t = sig.outputs[n];
    size_t rank = t.shape.size();
    const int64_t *d = results.data() + at;
    at += 3 + 2 * rank;
    attnres_tensor &out = outputs[n];
    out.dtype = t.dtype;
    out.rank = int32_t(rank);
    out.shape =
        static_cast<int64_t *>(std::malloc(std::max<size_t>(rank, 1) * 8));
    std::memcpy(out.shape, d + 3, rank * 8);
    size_t elem = attnres_dtype_size(t.dtype);
    int64_t count = numElements(out.shape, rank);
    out.data = std::malloc(std::max<size_t>(size_t(count) * elem, 1));
    auto *dst = static_cast<char *>(out.data);
    auto *base = reinterpret_cast<const char *>(d[1]) + d[2] * elem;
    bool contiguous = true;
    for (int64_t i = int64_t(rank) - 1, stride = 1; i >= 0; --i) {
      contiguous &= out.shape[i] == 1 || d[3 + rank + i] == stride;
      stride *= out.shape[i];
    }
    if (contiguous) {
      if (count && sig.needsCUDA)
        attnres::cuda::copy(dst, base, size_t(count) * elem);
      else if (count)
        std::memcpy(dst, base, size_t(count) * elem);
      continue;
    }
    // A CUDA result's elements are in device memory: the span they cover
    // comes over first.
    std::vector<char> staged;
    if (count && sig.needsCUDA) {
      int64_t low = 0, high = 0;
      for (size_t i = 0; i < rank; ++i) {
        int64_t reach = (out.shape[i] - 1) * d[3 + rank + i];
        (reach < 0 ? low : high) += reach;
      }
      staged.resize(size_t(high - low + 1) * elem);
      attnres::cuda::copy(staged.data(), base + low * elem, staged.size());
      base = staged.data() - low * elem;
    }
    // Strided copy into C order.
    std::vector<int64_t> index(rank, 0);
    for (int64_t e = 0; e < count; ++e) {
      int64_t offset = 0;
      for (size_t i = 0; i < rank; ++i)
        offset += index[i] * d[3 + rank + i];
      std::memcpy(dst + e * elem, base + offset * elem, elem);
      for (int64_t i = int64_t(rank) - 1; i >= 0; --i) {
        if (++index[i] < out.shape[i])
          break;
        index[i] = 0;
      }
    }
  }
  // The scopes free the results' buffers, and anything the lowering failed
  // to deallocate.
  return 0;
}

const std::vector<std::string> &mlir::attnres::runtime::runtimeFunctionNames() {
  static const std::vector<std::string> names = {
      "_mlir_memref_to_llvm_alloc", "_mlir_memref_to_llvm_aligned_alloc",
      "_mlir_memref_to_llvm_free", "memrefCopy",
      "_mlir_ciface_attnres_sgemm_batched",
      "_mlir_ciface_attnres_sgemm_batched_overwrite",
      "_mlir_ciface_attnres_cublas_sgemm_batched",
      "_mlir_ciface_attnres_cublas_sgemm_batched_overwrite",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f16",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f16_overwrite",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f32",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_f16_f32_overwrite",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_bf16",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_bf16_overwrite",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_f32",
      "_mlir_ciface_attnres_cublas_gemm_batched_ex_bf16_f32_overwrite",
      "attnres_parallel_for", "attnres_check_failed",
      "attnres_cuda_synchronize",
      // The GPU lowering's, in CUDA.cpp.
      "mgpuModuleLoad", "mgpuModuleLoadJIT", "mgpuModuleUnload",
      "mgpuModuleGetFunction", "mgpuLaunchKernel", "mgpuStreamCreate",
      "mgpuStreamDestroy", "mgpuStreamSynchronize", "mgpuStreamWaitEvent",
      "mgpuEventCreate", "mgpuEventDestroy", "mgpuEventSynchronize",
      "mgpuEventRecord", "mgpuMemAlloc", "mgpuMemFree", "mgpuMemcpy",
      "mgpuMemset32", "mgpuMemset16"};
  return names;
}
