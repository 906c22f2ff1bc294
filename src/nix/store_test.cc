// NixStore and PathInfoBoundRootService: a path added is a root named by its
// base name; removing or replacing that root drops the path info; other
// roots are left alone.
#include "nix/store.h"

#include <gtest/gtest.h>

#include <memory>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "nix/pathinfo/memory_path_info_service.h"

namespace castor::nix {
namespace {

castore::Node Link(std::string_view target) {
  return castore::SymlinkNode{*castore::SymlinkTarget::Create(target)};
}

PathInfo Info(std::string_view base, castore::Node node = Link("t")) {
  return *PathInfo::Create({
      .store_path = *StorePath::FromBaseName(base),
      .node = std::move(node),
      .nar_size = 100,
      .nar_sha256 = NixHash::Of(HashAlgo::kSha256, base),
  });
}

constexpr std::string_view kHello = "5klkkbyyd681lz12kb5jgyvjv3rjgq0n-hello";

class NixStoreTest : public ::testing::Test {
 protected:
  NixStoreTest()
      : raw_roots_(std::make_shared<castore::MemoryRootService>()),
        infos_(std::make_shared<MemoryPathInfoService>()),
        roots_(std::make_shared<PathInfoBoundRootService>(raw_roots_, infos_)),
        store_({std::make_shared<castore::MemoryBlobService>(),
                std::make_shared<castore::MemoryDirectoryService>(), roots_},
               infos_) {}

  bool HasInfo(std::string_view base) {
    auto got = infos_->Get(StorePath::FromBaseName(base)->digest());
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() && got->has_value();
  }
  std::optional<castore::Entry> Root(std::string_view name) {
    auto got = raw_roots_->Get(*castore::PathComponent::Create(name));
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  std::shared_ptr<castore::MemoryRootService> raw_roots_;
  std::shared_ptr<MemoryPathInfoService> infos_;
  std::shared_ptr<PathInfoBoundRootService> roots_;
  NixStore store_;
};

TEST_F(NixStoreTest, AddedPathIsARootNamedByItsBaseName) {
  ASSERT_TRUE(store_.Add(Info(kHello, Link("hello-target"))).ok());
  auto root = Root(kHello);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->node, Link("hello-target"));
  auto got = store_.Get(*StorePath::FromBaseName(kHello));
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->node(), Link("hello-target"));
}

TEST_F(NixStoreTest, GetByDigestOfAnotherNameIsAbsent) {
  ASSERT_TRUE(store_.Add(Info(kHello)).ok());
  auto got = store_.Get(*StorePath::FromBaseName("5klkkbyyd681lz12kb5jgyvjv3rjgq0n-other"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST_F(NixStoreTest, RemovingTheRootRemovesThePathInfo) {
  ASSERT_TRUE(store_.Add(Info(kHello)).ok());
  auto removed = roots_->Remove(*castore::PathComponent::Create(kHello));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(HasInfo(kHello));
  EXPECT_FALSE(Root(kHello).has_value());
}

TEST_F(NixStoreTest, ReplacingTheRootWithOtherContentsDropsThePathInfo) {
  ASSERT_TRUE(store_.Add(Info(kHello, Link("a"))).ok());
  // The same node again keeps it.
  ASSERT_TRUE(roots_->Put({*castore::PathComponent::Create(kHello), Link("a")}).ok());
  EXPECT_TRUE(HasInfo(kHello));
  ASSERT_TRUE(roots_->Put({*castore::PathComponent::Create(kHello), Link("b")}).ok());
  EXPECT_FALSE(HasInfo(kHello));
  EXPECT_EQ(Root(kHello)->node, Link("b"));
}

TEST_F(NixStoreTest, OtherRootsAreLeftAlone) {
  ASSERT_TRUE(store_.Add(Info(kHello)).ok());
  // A root whose name is a store path with another name part, and one that
  // is no store path at all.
  for (std::string_view name : {"5klkkbyyd681lz12kb5jgyvjv3rjgq0n-other", "photos"}) {
    ASSERT_TRUE(roots_->Put({*castore::PathComponent::Create(name), Link("x")}).ok());
    auto removed = roots_->Remove(*castore::PathComponent::Create(name));
    ASSERT_TRUE(removed.ok() && *removed) << removed.status();
  }
  EXPECT_TRUE(HasInfo(kHello));
}

TEST_F(NixStoreTest, RemoveDropsThePathInfoAndTheRoot) {
  ASSERT_TRUE(store_.Add(Info(kHello)).ok());
  auto removed = store_.Remove(*StorePath::FromBaseName(kHello));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(HasInfo(kHello));
  EXPECT_FALSE(Root(kHello).has_value());
  auto again = store_.Remove(*StorePath::FromBaseName(kHello));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
}

}  // namespace
}  // namespace castor::nix
