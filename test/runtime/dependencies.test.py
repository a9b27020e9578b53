"""Lists the shared libraries a file needs (its DT_NEEDED entries, through
readelf) and prints "only system libraries" when every one is the C, C++,
math or GCC support library, or the sanitizer runtimes of a sanitizer
build; else names the others."""
import re
import subprocess
import sys

ALLOWED = re.compile(r"^(libc|libm|libstdc\+\+|libgcc_s|ld-linux-x86-64|"
                     r"libdl|libpthread|librt|libasan|libubsan)\.so")
out = subprocess.run(["readelf", "-d", sys.argv[1]], capture_output=True,
                     text=True, check=True).stdout
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
others = [lib for lib in needed if not ALLOWED.match(lib)]
print("needs:", ", ".join(needed))
print("only system libraries" if not others else "also needs: " +
      ", ".join(others))
