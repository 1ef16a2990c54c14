# lit configuration of the cnnc-opt / cnnc tests. Substitutions:
#   %cnnc-opt  the cnnc-opt binary      %cnnc    the cnnc binary
#   %models    the models/ folder       FileCheck, not, split-file: LLVM 19's
#                                       (its tools folder is put on PATH)
# Features: "avx512" when the host CPU has AVX-512F (the kernels then use
# 16-wide vectors and zmm registers); "avx512bf16" when it has AVX512_BF16
# (mixed_bfloat16 convolutions then use vdpbf16ps).
import os

import lit.formats

config.name = "cnnc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".cnnir", ".dsl", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.cnnc_binary_dir, "tests", "lit")

bin_dir = config.cnnc_binary_dir
# %cnnc-opt first: %cnnc is its prefix.
config.substitutions.append(("%cnnc-opt", os.path.join(bin_dir, "cnnc-opt")))
config.substitutions.append(("%cnnc", os.path.join(bin_dir, "cnnc")))
# %limit-memory caps the address space of a command that must not read
# without end ("ulimit -v ...;"); nothing under ASan, whose shadow memory
# needs terabytes of address space (the time limit and the reader's own
# cap remain).
sanitized = getattr(config, "cnnc_sanitize", "OFF").upper() in ("ON", "1", "TRUE", "YES")
config.substitutions.append(
    ("%limit-memory", "" if sanitized else "ulimit -v 4000000;"))
config.substitutions.append(
    ("%models", os.path.join(config.cnnc_source_dir, "models")))
config.substitutions.append(
    (r"\bFileCheck\b", os.path.join(config.llvm_tools_dir, "FileCheck")))

# --emit=llvm|asm compile kernels: keep them out of the user's cache.
config.environment["CNNC_CACHE_DIR"] = os.path.join(bin_dir, "test-kernel-cache")

config.environment["PATH"] = os.pathsep.join(
    [config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])

try:
    with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    if " avx512f" in cpuinfo:
        config.available_features.add("avx512")
    if " avx512_bf16" in cpuinfo:
        config.available_features.add("avx512bf16")
except OSError:
    pass
