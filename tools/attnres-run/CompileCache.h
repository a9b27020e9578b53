//===- CompileCache.h - attnres-run's cache of compiled models --*- C++ -*-===//
//
// attnres-run compiles a model once into a shared library kept in a cache
// folder, named by a hash of everything the compiled code depends on: the
// model's bytes and its external data files, the options that change the
// lowering, and the compiler itself. Entries are written under a temporary
// name and renamed into place, so concurrent runs never see half a file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TOOLS_ATTNRES_RUN_COMPILECACHE_H
#define ATTNRES_TOOLS_ATTNRES_RUN_COMPILECACHE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::attnres {

/// $XDG_CACHE_HOME/attnres, else $HOME/.cache/attnres; "" when neither is
/// set.
std::string defaultCacheDir();

/// The hex name of a model's cache entry: a 128-bit hash of the model file
/// (past 64 MiB: of its first and last MiB, its size, modification time and
/// inode), the size and modification time of each external data file it
/// names, the running executable's size and modification time, and
/// `options`.
llvm::Expected<std::string> cacheKey(llvm::StringRef modelPath,
                                     llvm::ArrayRef<std::string> options);

/// Marks an entry used now, for pruneCache's order.
void touchCacheEntry(llvm::StringRef path);

/// Removes the least recently used entries other than `keep` (and stale
/// temporaries) until the folder holds at most `limitBytes` of artifacts,
/// or only `keep`.
void pruneCache(llvm::StringRef dir, uint64_t limitBytes, llvm::StringRef keep);

} // namespace mlir::attnres

#endif // ATTNRES_TOOLS_ATTNRES_RUN_COMPILECACHE_H
