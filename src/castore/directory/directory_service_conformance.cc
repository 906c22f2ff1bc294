#include "castore/directory/directory_service_conformance.h"

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DirectoryServiceConformance);

namespace {

PathComponent Name(std::string_view n) { return *PathComponent::Create(n); }

Directory Make(std::vector<Entry> entries) {
  auto d = Directory::Create(std::move(entries));
  CASTOR_CHECK(d.ok());
  return *std::move(d);
}

Entry Dir(std::string_view name, const Directory& child) {
  return {Name(name), DirectoryNode{child.digest(), child.size()}};
}
Entry File(std::string_view name, std::string_view contents, bool executable = false) {
  return {Name(name), FileNode{B3Digest::Of(contents), contents.size(), executable}};
}
Entry Symlink(std::string_view name, std::string_view target) {
  return {Name(name), SymlinkNode{*SymlinkTarget::Create(target)}};
}

// The reference Directories of tests/data/castore.json.
struct Reference {
  Directory a;  // DIRECTORY_A, empty
  Directory with_keep = Make({File(".keep", "")});
  Directory complicated =
      Make({Dir("keep", with_keep), File(".keep", ""), Symlink("aa", "/nix/store/somewhereelse")});
  Directory b = Make({Dir("a", a)});
  Directory c = Make({Dir("a", a), Dir("a'", a)});
  Directory d = Make({Dir("a", a), Dir("b", b)});
};

std::string Hex(const Directory& d) { return d.digest().ToHex(); }

absl::StatusOr<std::vector<Directory>> Collect(DirectoryService& s, const B3Digest& root) {
  std::vector<Directory> out;
  absl::Status st = s.GetRecursive(root, [&](const Directory& d) {
    out.push_back(d);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

// Checks the GetRecursive contract: the root first, each digest once, every
// Directory after one that refers to it, breadth-first (depths never
// decrease), and exactly the closure `expected`.
void ExpectBreadthFirstClosure(const std::vector<Directory>& got, const Directory& root,
                               const std::vector<Directory>& expected) {
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().digest(), root.digest());
  std::map<B3Digest, int> depth;  // shortest distance from the root, of those seen
  depth[root.digest()] = 0;
  std::set<B3Digest> emitted;
  int last_depth = 0;
  for (const Directory& d : got) {
    EXPECT_TRUE(emitted.insert(d.digest()).second) << "sent twice: " << Hex(d);
    auto it = depth.find(d.digest());
    ASSERT_NE(it, depth.end()) << Hex(d) << " sent before any directory referring to it";
    EXPECT_GE(it->second, last_depth) << Hex(d) << " breaks breadth-first order";
    last_depth = it->second;
    for (const Entry& e : d.entries()) {
      if (const auto* child = std::get_if<DirectoryNode>(&e.node)) {
        depth.try_emplace(child->digest, it->second + 1);
      }
    }
  }
  std::set<B3Digest> want;
  for (const Directory& d : expected) want.insert(d.digest());
  EXPECT_EQ(emitted, want);
}

bool Stored(DirectoryService& s, const Directory& d) {
  auto got = s.Get(d.digest());
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() && got->has_value();
}

}  // namespace

void DirectoryServiceConformance::SetUp() {
  service_ = GetParam().make();
  ASSERT_NE(service_, nullptr) << "backend " << GetParam().name << " made no service";
}

TEST_P(DirectoryServiceConformance, ReferenceDigestsAreTheVectors) {
  // Guards the fixtures themselves against drift.
  Reference r;
  EXPECT_EQ(Hex(r.a), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  EXPECT_EQ(Hex(r.with_keep), "8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e");
  EXPECT_EQ(Hex(r.complicated), "3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a");
  EXPECT_EQ(Hex(r.b), "8701f4722d8dae7f2c40fa003331b8437a3825f9e1bfd3a77998c64cc226b9cc");
  EXPECT_EQ(Hex(r.c), "78eb200ae0cc95d4ea954655fbcf91e285013a261310e161927f2401d2bca803");
  EXPECT_EQ(Hex(r.d), "99922a5c1801805287a647af73bca0ed7352a5f7f373e54992795bcc4a235213");
}

TEST_P(DirectoryServiceConformance, PutGetRoundTripOfReferenceDirectories) {
  Reference r;
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d}) {
    SCOPED_TRACE(Hex(*d));
    auto digest = service().Put(*d);
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(*digest, d->digest());
  }
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d}) {
    SCOPED_TRACE(Hex(*d));
    auto got = service().Get(d->digest());
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->digest(), d->digest());
    EXPECT_EQ((*got)->size(), d->size());
    EXPECT_EQ((*got)->Encode(), d->Encode());
    ASSERT_EQ((*got)->entries().size(), d->entries().size());
    for (size_t i = 0; i < d->entries().size(); ++i) {
      EXPECT_TRUE((*got)->entries()[i] == d->entries()[i]) << "entry " << i;
    }
  }
}

TEST_P(DirectoryServiceConformance, PutTwiceIsIdempotent) {
  Reference r;
  ASSERT_TRUE(service().Put(r.with_keep).ok());
  auto again = service().Put(r.with_keep);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, r.with_keep.digest());
  EXPECT_TRUE(Stored(service(), r.with_keep));
}

TEST_P(DirectoryServiceConformance, GetOfMissingDigestIsNullopt) {
  auto got = service().Get(B3Digest::Of(std::string_view("no such directory")));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST_P(DirectoryServiceConformance, PutWithUnknownChildIsFailedPrecondition) {
  Reference r;
  auto put = service().Put(r.complicated);  // with_keep is not stored
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition) << put.status();
  EXPECT_FALSE(Stored(service(), r.complicated));
}

TEST_P(DirectoryServiceConformance, PutWithSizeMismatchIsInvalidArgument) {
  Reference r;
  ASSERT_TRUE(service().Put(r.with_keep).ok());
  Directory wrong = Make({{Name("keep"), DirectoryNode{r.with_keep.digest(), 7}}});
  auto put = service().Put(wrong);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << put.status();
  EXPECT_FALSE(Stored(service(), wrong));
}

TEST_P(DirectoryServiceConformance, PutterStoresAClosureAndReturnsTheRoot) {
  Reference r;
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok()) << putter.status();
  for (const Directory* d : {&r.a, &r.b, &r.d}) {
    ASSERT_TRUE((*putter)->Put(*d).ok()) << Hex(*d);
  }
  // Nothing is visible before Close.
  EXPECT_FALSE(Stored(service(), r.d));
  auto root = (*putter)->Close();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, r.d.digest());
  EXPECT_TRUE(Stored(service(), r.a));
  EXPECT_TRUE(Stored(service(), r.b));
  EXPECT_TRUE(Stored(service(), r.d));
  EXPECT_FALSE((*putter)->Close().ok()) << "second Close must fail";
}

TEST_P(DirectoryServiceConformance, PutterAcceptsChildrenAlreadyStoredAndRepeats) {
  Reference r;
  ASSERT_TRUE(service().Put(r.with_keep).ok());
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok()) << putter.status();
  ASSERT_TRUE((*putter)->Put(r.a).ok());
  ASSERT_TRUE((*putter)->Put(r.a).ok());  // sent twice: kept once
  ASSERT_TRUE((*putter)->Put(r.complicated).ok());
  ASSERT_TRUE((*putter)->Put(r.c).ok());
  auto root = (*putter)->Close();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, r.c.digest());
  EXPECT_TRUE(Stored(service(), r.complicated));
  EXPECT_TRUE(Stored(service(), r.c));
}

TEST_P(DirectoryServiceConformance, PutterCloseWithoutPutIsFailedPrecondition) {
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok()) << putter.status();
  auto root = (*putter)->Close();
  EXPECT_EQ(root.status().code(), absl::StatusCode::kFailedPrecondition) << root.status();
}

TEST_P(DirectoryServiceConformance, PutterWithFailingPutStoresNothing) {
  Reference r;
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok()) << putter.status();
  ASSERT_TRUE((*putter)->Put(r.a).ok());
  ASSERT_TRUE((*putter)->Put(r.b).ok());
  absl::Status bad = (*putter)->Put(r.complicated);  // with_keep was never sent
  if (!bad.ok()) {
    EXPECT_EQ(bad.code(), absl::StatusCode::kFailedPrecondition) << bad;
  }
  auto root = (*putter)->Close();
  EXPECT_FALSE(root.ok()) << "Close after a failing Put must fail";
  if (bad.ok()) {
    EXPECT_EQ(root.status().code(), absl::StatusCode::kFailedPrecondition) << root.status();
  }
  putter->reset();
  EXPECT_FALSE(Stored(service(), r.a));
  EXPECT_FALSE(Stored(service(), r.b));
  EXPECT_FALSE(Stored(service(), r.complicated));
}

TEST_P(DirectoryServiceConformance, PutterWithSizeMismatchStoresNothing) {
  Reference r;
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok()) << putter.status();
  ASSERT_TRUE((*putter)->Put(r.with_keep).ok());
  Directory wrong = Make({{Name("keep"), DirectoryNode{r.with_keep.digest(), 2}}});
  absl::Status bad = (*putter)->Put(wrong);
  if (!bad.ok()) {
    EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE((*putter)->Close().ok());
  EXPECT_FALSE(Stored(service(), r.with_keep));
  EXPECT_FALSE(Stored(service(), wrong));
}

TEST_P(DirectoryServiceConformance, PutterDestroyedBeforeCloseStoresNothing) {
  Reference r;
  {
    auto putter = service().OpenPutter();
    ASSERT_TRUE(putter.ok()) << putter.status();
    ASSERT_TRUE((*putter)->Put(r.with_keep).ok());
    ASSERT_TRUE((*putter)->Put(r.complicated).ok());
  }
  EXPECT_FALSE(Stored(service(), r.with_keep));
  EXPECT_FALSE(Stored(service(), r.complicated));
}

TEST_P(DirectoryServiceConformance, GetRecursiveIsBreadthFirstParentsFirstEachOnce) {
  Reference r;
  // E shares children at several depths: a (empty) is reachable from D, B,
  // C and E itself; with_keep from complicated.
  Directory e = Make({Dir("c", r.c), Dir("complicated", r.complicated), Dir("d", r.d),
                      Dir("empty", r.a), File("f", "x", true), Symlink("s", "d/b")});
  auto putter = service().OpenPutter();
  ASSERT_TRUE(putter.ok());
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d, &e}) {
    ASSERT_TRUE((*putter)->Put(*d).ok()) << Hex(*d);
  }
  ASSERT_TRUE((*putter)->Close().ok());

  auto got = Collect(service(), e.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectBreadthFirstClosure(*got, e, {e, r.a, r.with_keep, r.complicated, r.b, r.c, r.d});

  got = Collect(service(), r.d.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectBreadthFirstClosure(*got, r.d, {r.d, r.a, r.b});
  EXPECT_EQ(got->size(), 3u);

  got = Collect(service(), r.a.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].digest(), r.a.digest());
}

TEST_P(DirectoryServiceConformance, GetRecursiveOfMissingRootIsNotFound) {
  auto got = Collect(service(), B3Digest::Of(std::string_view("absent root")));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
}

TEST_P(DirectoryServiceConformance, GetRecursiveStopsAtTheCallbacksError) {
  Reference r;
  for (const Directory* d : {&r.a, &r.b, &r.d}) ASSERT_TRUE(service().Put(*d).ok());
  int calls = 0;
  absl::Status s = service().GetRecursive(r.d.digest(), [&](const Directory&) {
    ++calls;
    return absl::CancelledError("enough");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(calls, 1);
}

TEST_P(DirectoryServiceConformance, GetRecursiveWithMissingDescendantIsFailedPrecondition) {
  Reference r;
  for (const Directory* d : {&r.a, &r.b, &r.d}) ASSERT_TRUE(service().Put(*d).ok());
  B3Digest gone[] = {r.b.digest()};
  absl::Status del = service().Delete(gone);
  if (del.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << "Delete: " << del;
  ASSERT_TRUE(del.ok()) << del;
  auto got = Collect(service(), r.d.digest());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
}

TEST_P(DirectoryServiceConformance, ForEachListsEveryDigestOnce) {
  Reference r;
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d}) {
    ASSERT_TRUE(service().Put(*d).ok());
  }
  std::multiset<B3Digest> seen;
  absl::Status s = service().ForEach([&](const B3Digest& d) {
    seen.insert(d);
    return absl::OkStatus();
  });
  if (s.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << "ForEach: " << s;
  ASSERT_TRUE(s.ok()) << s;
  std::multiset<B3Digest> want;
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d}) {
    want.insert(d->digest());
  }
  EXPECT_EQ(seen, want);
  int calls = 0;
  s = service().ForEach([&](const B3Digest&) {
    ++calls;
    return absl::CancelledError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_P(DirectoryServiceConformance, DeleteRemovesTheGivenDigestsAndIgnoresMissing) {
  Reference r;
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated}) {
    ASSERT_TRUE(service().Put(*d).ok());
  }
  B3Digest gone[] = {r.complicated.digest(), B3Digest::Of(std::string_view("never stored"))};
  absl::Status s = service().Delete(gone);
  if (s.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << "Delete: " << s;
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(Stored(service(), r.complicated));
  EXPECT_TRUE(Stored(service(), r.with_keep));
  EXPECT_TRUE(Stored(service(), r.a));
}

TEST_P(DirectoryServiceConformance, ConcurrentPuttersOfOverlappingClosures) {
  Reference r;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto putter = service().OpenPutter();
      if (!putter.ok()) {
        results[t] = putter.status();
        return;
      }
      std::vector<const Directory*> order =
          t % 2 == 0 ? std::vector<const Directory*>{&r.a, &r.b, &r.d}
                     : std::vector<const Directory*>{&r.with_keep, &r.a, &r.complicated, &r.c};
      for (const Directory* d : order) {
        absl::Status s = (*putter)->Put(*d);
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
      results[t] = (*putter)->Close().status();
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 6; ++t) EXPECT_TRUE(results[t].ok()) << "putter " << t << ": " << results[t];
  for (const Directory* d : {&r.a, &r.with_keep, &r.complicated, &r.b, &r.c, &r.d}) {
    EXPECT_TRUE(Stored(service(), *d)) << Hex(*d);
  }
}

}  // namespace castor::castore
