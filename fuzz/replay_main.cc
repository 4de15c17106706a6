// replay_main: the main() of the coverage build (SEATLOCK_FUZZ_COVERAGE=ON),
// in place of libFuzzer's. Runs LLVMFuzzerTestOneInput once on every file
// named, or in a directory named, on the command line, so llvm-cov can
// report what a corpus covers (docs/fuzzing.md). Arguments starting with
// '-' go to LLVMFuzzerInitialize (e.g. --write-seeds=DIR).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

// Optional in a target, as with libFuzzer.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)),
                                std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  size_t runs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    if (argv[i][0] == '-') continue;
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) RunFile(e.path()), ++runs;
      }
    } else {
      RunFile(p), ++runs;
    }
  }
  std::printf("replayed %zu inputs\n", runs);
  return 0;
}
