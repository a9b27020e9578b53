//===- BesideTest.h - Files built next to the GPU test binary ---*- C++ -*-===//
//
// The GPU tests run on machines the build tree was copied to (under another
// root), so the files they load are found next to the executable, not at
// the paths the build knew.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_UNITTESTS_RUNTIME_BESIDETEST_H
#define ATTNRES_UNITTESTS_RUNTIME_BESIDETEST_H

#include <string>
#include <unistd.h>

/// `relative`, resolved against the directory of the running executable.
inline std::string besideTest(const std::string &relative) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = n > 0 ? std::string(self, n) : std::string(".");
  return dir.substr(0, dir.rfind('/') + 1) + relative;
}

#endif // ATTNRES_UNITTESTS_RUNTIME_BESIDETEST_H
