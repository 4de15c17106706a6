// Tests for the file layer (persistence/file_util.h). Each test works in its
// own temporary directory under /tmp, removed afterwards.
#include "persistence/file_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace seatlock::files {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadWhole(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

void WriteWhole(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
  std::fclose(f);
}

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/seatlock_file_util_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string root_;
};

TEST_F(FileUtilTest, ReadFileOfAMissingFileIsNotFound) {
  std::string out = "stale";
  const absl::Status st = ReadFile(root_ + "/missing", &out);
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(root_ + "/missing"));
}

TEST_F(FileUtilTest, ReadFileOfADirectoryIsAnErrorNotEmptyContent) {
  std::string out;
  const absl::Status st = ReadFile(root_, &out);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(absl::IsNotFound(st)) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(root_));
}

// A file that opens but whose read fails (here with EIO: /proc/self/mem
// at address 0, which is never mapped) is an error, not empty content.
TEST_F(FileUtilTest, ReadFileWhoseReadFailsIsAnErrorNotEmptyContent) {
  if (!fs::exists("/proc/self/mem")) GTEST_SKIP() << "no /proc";
  std::string out = "stale";
  const absl::Status st = ReadFile("/proc/self/mem", &out);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(absl::IsNotFound(st)) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("read /proc/self/mem"));
  EXPECT_EQ(out, "");
}

TEST_F(FileUtilTest, ReadFileReturnsExactlyWhatWasWritten) {
  std::string data;
  for (int i = 0; i < 200000; ++i) data.push_back(static_cast<char>(i * 7));  // > one read
  const std::string path = root_ + "/data";
  ASSERT_TRUE(WriteFileAtomic(path, data, /*sync=*/true).ok());
  std::string out = "stale";
  ASSERT_TRUE(ReadFile(path, &out).ok());
  EXPECT_EQ(out, data);

  ASSERT_TRUE(WriteFileAtomic(path, "", /*sync=*/false).ok());
  ASSERT_TRUE(ReadFile(path, &out).ok());
  EXPECT_EQ(out, "");
}

TEST_F(FileUtilTest, WriteFileAtomicReplacesTheContentAndLeavesNoTmp) {
  const std::string path = root_ + "/SHARDS";
  WriteWhole(path, "old content, longer than the new one");
  for (bool sync : {true, false}) {
    const std::string data = sync ? "shards=4 seed=1\n" : "shards=2 seed=9\n";
    const absl::Status st = WriteFileAtomic(path, data, sync);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(ReadWhole(path), data);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  }
}

TEST_F(FileUtilTest, WriteFileAtomicIntoAMissingDirectoryFailsAndCreatesNothing) {
  const std::string path = root_ + "/no-such-dir/file";
  const absl::Status st = WriteFileAtomic(path, "x", /*sync=*/true);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(path + ".tmp"));
  EXPECT_FALSE(fs::exists(root_ + "/no-such-dir"));
}

TEST_F(FileUtilTest, WriteFileAtomicOverADirectoryFailsAndRemovesItsTmp) {
  const std::string path = root_ + "/dir";
  fs::create_directories(path + "/child");  // rename(file, non-empty dir) fails
  const absl::Status st = WriteFileAtomic(path, "x", /*sync=*/true);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_TRUE(fs::is_directory(path));
}

TEST_F(FileUtilTest, SyncDirOfAnExistingDirectorySucceeds) { EXPECT_TRUE(SyncDir(root_).ok()); }

TEST_F(FileUtilTest, SyncDirOfAMissingDirectoryFailsNamingThePath) {
  const std::string dir = root_ + "/missing";
  const absl::Status st = SyncDir(dir);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(dir));
  EXPECT_THAT(std::string(st.message()), HasSubstr("No such file or directory"));
}

TEST_F(FileUtilTest, SyncDirOfAFileFails) {
  const std::string path = root_ + "/file";
  WriteWhole(path, "x");
  const absl::Status st = SyncDir(path);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(path));
}

TEST_F(FileUtilTest, RemoveFileOfAMissingFileIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(RemoveFile(root_ + "/missing")));
  WriteWhole(root_ + "/f", "x");
  EXPECT_TRUE(RemoveFile(root_ + "/f").ok());
  EXPECT_FALSE(fs::exists(root_ + "/f"));
}

TEST_F(FileUtilTest, RenameFileMovesAndReportsBothPathsOnFailure) {
  WriteWhole(root_ + "/a", "content");
  ASSERT_TRUE(RenameFile(root_ + "/a", root_ + "/b").ok());
  EXPECT_EQ(ReadWhole(root_ + "/b"), "content");
  const absl::Status st = RenameFile(root_ + "/a", root_ + "/c");
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(root_ + "/a"));
  EXPECT_THAT(std::string(st.message()), HasSubstr(root_ + "/c"));
}

TEST_F(FileUtilTest, CreateDirsCreatesParentsAndAcceptsAnExistingDirectory) {
  const std::string dir = root_ + "/a/b/c";
  ASSERT_TRUE(CreateDirs(dir).ok());
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(CreateDirs(dir).ok());
}

TEST_F(FileUtilTest, CreateDirsRefusesAFileInTheWay) {
  WriteWhole(root_ + "/file", "x");
  EXPECT_FALSE(CreateDirs(root_ + "/file").ok());
  EXPECT_FALSE(CreateDirs(root_ + "/file/sub").ok());
}

TEST_F(FileUtilTest, WriteAtWritesAtTheOffset) {
  const std::string path = root_ + "/f";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAt(fd, "hello", 0, path).ok());
  ASSERT_TRUE(WriteAt(fd, "HE", 0, path).ok());
  ASSERT_TRUE(WriteAt(fd, "!", 5, path).ok());
  ::close(fd);
  EXPECT_EQ(ReadWhole(path), "HEllo!");
}

TEST_F(FileUtilTest, WriteAtOnAReadOnlyFdFailsNamingThePath) {
  const std::string path = root_ + "/f";
  WriteWhole(path, "x");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const absl::Status st = WriteAt(fd, "y", 0, path);
  ::close(fd);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(path));
}

TEST(DirNameTest, IsTheDirectoryPart) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/data//SHARDS"), "/data");
}

}  // namespace
}  // namespace seatlock::files
