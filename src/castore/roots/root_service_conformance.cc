#include "castore/roots/root_service_conformance.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace castor::castore {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RootServiceConformance);

namespace {

PathComponent Name(std::string_view n) { return *PathComponent::Create(n); }

Entry DirRoot(std::string_view name, std::string_view seed, uint64_t size) {
  return {Name(name), DirectoryNode{B3Digest::Of(seed), size}};
}
Entry FileRoot(std::string_view name, std::string_view contents, bool executable) {
  return {Name(name), FileNode{B3Digest::Of(contents), contents.size(), executable}};
}
Entry SymlinkRoot(std::string_view name, std::string_view target) {
  return {Name(name), SymlinkNode{*SymlinkTarget::Create(target)}};
}

absl::StatusOr<std::vector<Entry>> ListAll(RootService& s) {
  std::vector<Entry> out;
  absl::Status st = s.List([&](const Entry& e) {
    out.push_back(e);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

std::vector<std::string> Names(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const Entry& e : entries) out.push_back(e.name.str());
  return out;
}

}  // namespace

void RootServiceConformance::SetUp() {
  service_ = GetParam().make();
  ASSERT_NE(service_, nullptr) << "backend " << GetParam().name << " made no service";
}

TEST_P(RootServiceConformance, EmptyServiceHasNoRoots) {
  auto got = service().Get(Name("nothing"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

TEST_P(RootServiceConformance, PutGetRoundTripOfAllNodeKinds) {
  std::vector<Entry> roots = {
      DirRoot("tree", "some directory", 42),          FileRoot("plain", "file contents", false),
      FileRoot("tool", "#!/bin/sh\n", true),          SymlinkRoot("link", "../elsewhere/target"),
      DirRoot(std::string(255, 'x'), "long name", 0),
  };
  for (const Entry& e : roots) ASSERT_TRUE(service().Put(e).ok()) << e.name.str();
  for (const Entry& e : roots) {
    SCOPED_TRACE(e.name.str());
    auto got = service().Get(e.name);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_TRUE(**got == e);
    EXPECT_EQ(NodeKind((*got)->node), NodeKind(e.node));
  }
}

TEST_P(RootServiceConformance, ListIsSortedBytewise) {
  // Bytes >= 0x80 sort after ASCII (unsigned comparison); uppercase before
  // lowercase; a prefix before its extensions.
  std::vector<std::string> names = {
      "zeta", "\xc3\xa9t\xc3\xa9", "Alpha", "alpha", "alpha2", "\xff", "a b", "0", "~tilde",
      "\x7f"};
  for (const std::string& n : names) {
    ASSERT_TRUE(service().Put(FileRoot(n, n, false)).ok()) << n;
  }
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> want = {
      "0",   "Alpha", "a b", "alpha", "alpha2", "zeta", "~tilde", "\x7f", "\xc3\xa9t\xc3\xa9",
      "\xff"};
  EXPECT_EQ(Names(*all), want);
  for (const Entry& e : *all) EXPECT_TRUE(e == FileRoot(e.name.str(), e.name.str(), false));
}

TEST_P(RootServiceConformance, PutReplacesAnExistingRoot) {
  ASSERT_TRUE(service().Put(DirRoot("r", "old", 1)).ok());
  Entry replacement = SymlinkRoot("r", "/new/target");
  ASSERT_TRUE(service().Put(replacement).ok());
  auto got = service().Get(Name("r"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE(**got == replacement);
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE((*all)[0] == replacement);
}

TEST_P(RootServiceConformance, RemoveReportsWhetherTheRootExisted) {
  ASSERT_TRUE(service().Put(FileRoot("keep", "k", false)).ok());
  ASSERT_TRUE(service().Put(FileRoot("drop", "d", false)).ok());
  auto removed = service().Remove(Name("drop"));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  removed = service().Remove(Name("drop"));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_FALSE(*removed);
  removed = service().Remove(Name("never"));
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  auto got = service().Get(Name("drop"));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Names(*all), std::vector<std::string>{"keep"});
}

TEST_P(RootServiceConformance, ListStopsAtTheCallbacksError) {
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(service().Put(FileRoot(n, n, false)).ok());
  std::vector<std::string> seen;
  absl::Status s = service().List([&](const Entry& e) {
    seen.push_back(e.name.str());
    return seen.size() == 2 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST_P(RootServiceConformance, ConcurrentPutsAndRemoves) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string name = absl::StrCat("t", t, "-", i);
        absl::Status s = service().Put(FileRoot(name, name, i % 2 == 1));
        if (s.ok() && i % 5 == 0) s = service().Remove(Name(name)).status();
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto all = ListAll(service());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 4u * 20u);
}

}  // namespace castor::castore
