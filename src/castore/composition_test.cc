#include "castore/composition.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "castore/blob/local_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/roots/lmdb_root_service.h"
#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

bool Mentions(const absl::Status& s, std::string_view text) {
  return ToStdView(s.message()).find(text) != std::string_view::npos;
}

TEST(Composition, MemoryAddressesOpenInMemoryServices) {
  auto blobs = OpenBlobService("memory://");
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  EXPECT_NE(dynamic_cast<MemoryBlobService*>(blobs->get()), nullptr);
  EXPECT_TRUE(OpenDirectoryService("memory://").ok());
  EXPECT_TRUE(OpenRootService("memory://").ok());
}

TEST(Composition, FileAndLmdbAddressesOpenLocalBackends) {
  testing::TempDir dir("compose");
  auto blobs = OpenBlobService("file://" + dir.path() + "/blobs");
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  EXPECT_NE(dynamic_cast<LocalBlobService*>(blobs->get()), nullptr);
  auto dirs = OpenDirectoryService("lmdb://" + dir.path() + "/meta");
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  EXPECT_NE(dynamic_cast<LmdbDirectoryService*>(dirs->get()), nullptr);
  auto roots = OpenRootService("lmdb://" + dir.path() + "/meta");
  ASSERT_TRUE(roots.ok()) << roots.status();
  EXPECT_NE(dynamic_cast<LmdbRootService*>(roots->get()), nullptr);
}

TEST(Composition, UnknownSchemeNamesTheAddressAndTheKnownSchemes) {
  auto s = OpenBlobService("s3://bucket/x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Mentions(s, "s3://bucket/x")) << s;
  EXPECT_TRUE(Mentions(s, "file://")) << s;
  EXPECT_TRUE(Mentions(s, "memory://")) << s;
  // lmdb stores directories and roots, not blobs.
  s = OpenBlobService("lmdb:///tmp/x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = OpenDirectoryService("file:///tmp/x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(Composition, AddressWithoutSchemeIsInvalidArgument) {
  auto s = OpenBlobService("/just/a/path").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Mentions(s, "/just/a/path")) << s;
  EXPECT_EQ(OpenRootService("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Composition, MissingOrRelativePathIsInvalidArgumentNamingTheAddress) {
  for (const char* addr : {"file://", "file://relative/blobs"}) {
    auto s = OpenBlobService(addr).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << addr;
    EXPECT_TRUE(Mentions(s, addr)) << s;
  }
  for (const char* addr : {"lmdb://", "lmdb://meta"}) {
    auto s = OpenDirectoryService(addr).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << addr;
    EXPECT_TRUE(Mentions(s, addr)) << s;
    s = OpenRootService(addr).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << addr;
    EXPECT_TRUE(Mentions(s, addr)) << s;
  }
}

TEST(Composition, UnopenableLmdbPathIsOneErrorNamingTheAddress) {
  testing::TempDir dir("compose-bad");
  std::string file = dir.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  std::string addr = "lmdb://" + file;
  auto s = OpenDirectoryService(addr).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Mentions(s, addr)) << s;
  s = OpenRootService(addr).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Mentions(s, addr)) << s;
  // Below a regular file nothing can be created.
  s = OpenBlobService("file://" + file + "/blobs").status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Mentions(s, file)) << s;
}

TEST(Composition, EmbeddedStoreRoundTripsAcrossReopening) {
  testing::TempDir dir("compose-store");
  StoreAddresses addrs = EmbeddedStoreAddresses(dir.path());
  EXPECT_EQ(addrs.blob, "file://" + dir.path() + "/blobs");
  EXPECT_EQ(addrs.directory, "lmdb://" + dir.path() + "/meta");
  EXPECT_EQ(addrs.root, addrs.directory);
  B3Digest blob;
  Directory tree;
  {
    auto services = OpenServices(addrs);
    ASSERT_TRUE(services.ok()) << services.status();
    auto d = PutBlob(*services->blobs, "hello");
    ASSERT_TRUE(d.ok()) << d.status();
    blob = *d;
    tree = *Directory::Create({{*PathComponent::Create("greeting"), FileNode{blob, 5, false}}});
    ASSERT_TRUE(services->directories->Put(tree).ok());
    ASSERT_TRUE(services->blobs->Sync().ok());
    ASSERT_TRUE(
        services->roots
            ->Put(Entry{*PathComponent::Create("hello"), DirectoryNode{tree.digest(), tree.size()}})
            .ok());
  }
  auto services = OpenServices(addrs);
  ASSERT_TRUE(services.ok()) << services.status();
  auto root = services->roots->Get(*PathComponent::Create("hello"));
  ASSERT_TRUE(root.ok() && root->has_value()) << root.status();
  const auto* node = std::get_if<DirectoryNode>(&(*root)->node);
  ASSERT_NE(node, nullptr);
  auto got = services->directories->Get(node->digest);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  ASSERT_NE((*got)->Find("greeting"), nullptr);
  auto contents = ReadBlob(*services->blobs, blob);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->value_or(""), "hello");
}

TEST(Composition, DefaultStoreDirFollowsTheEnvironment) {
  const char* saved_store = std::getenv("CASTOR_STORE");
  const char* saved_xdg = std::getenv("XDG_DATA_HOME");
  std::string store = saved_store ? saved_store : "";
  std::string xdg = saved_xdg ? saved_xdg : "";
  ::setenv("CASTOR_STORE", "/srv/castor", 1);
  EXPECT_EQ(DefaultStoreDir(), "/srv/castor");
  ::unsetenv("CASTOR_STORE");
  ::setenv("XDG_DATA_HOME", "/home/u/.data", 1);
  EXPECT_EQ(DefaultStoreDir(), "/home/u/.data/castor");
  if (saved_store) ::setenv("CASTOR_STORE", store.c_str(), 1);
  if (saved_xdg) {
    ::setenv("XDG_DATA_HOME", xdg.c_str(), 1);
  } else {
    ::unsetenv("XDG_DATA_HOME");
  }
}

}  // namespace
}  // namespace castor::castore
