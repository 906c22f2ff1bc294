#include "s3store/s3_metadata_services.h"

#include <algorithm>
#include <deque>
#include <future>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory/closure.h"
#include "s3store/layout.h"

namespace castor::s3store {

using castore::B3Digest;
using castore::Directory;

namespace {

// Directory uploads in flight per Close.
constexpr size_t kParallelPuts = 16;

}  // namespace

absl::StatusOr<std::optional<Directory>> S3DirectoryService::Get(const B3Digest& digest) {
  const std::string key = DigestKey(kDirectoriesPrefix, digest);
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client_->Get(key));
  if (!got.has_value()) return std::nullopt;
  auto fail = [&](std::string_view why) {
    return absl::DataLossError(absl::StrCat("directory ", digest.ToB3(), " (",
                                            client_->address().Display(), "/", key,
                                            "): ", ToAbslView(why)));
  };
  if (B3Digest::Of(got->data) != digest) return fail("object does not hash to the digest");
  auto dir = Directory::Decode(got->data);
  if (!dir.ok()) return fail(dir.status().ToString());
  return *std::move(dir);
}

absl::StatusOr<std::optional<uint64_t>> S3DirectoryService::StoredSize(const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<Directory> dir, Get(digest));
  if (!dir.has_value()) return std::nullopt;
  return dir->size();
}

absl::StatusOr<B3Digest> S3DirectoryService::Put(const Directory& directory) {
  ASSIGN_OR_RETURN(auto putter, OpenPutter());
  RETURN_IF_ERROR(putter->Put(directory));
  return putter->Close();
}

absl::StatusOr<std::unique_ptr<castore::DirectoryPutter>> S3DirectoryService::OpenPutter() {
  return std::make_unique<castore::ClosurePutter>(
      [this](const B3Digest& d) { return StoredSize(d); },
      [this](const std::vector<Directory>& dirs) { return Commit(dirs); });
}

absl::Status S3DirectoryService::Commit(const std::vector<Directory>& directories) {
  if (directories.empty()) return absl::OkStatus();
  auto put = [this](const Directory& dir) {
    // Created, never overwritten (as in s3_blob_service.cc).
    return client_
        ->Put(DigestKey(kDirectoriesPrefix, dir.digest()), dir.Encode(), {.if_absent = true})
        .status();
  };
  absl::Status first_error;
  std::deque<std::future<absl::Status>> inflight;
  auto wait_one = [&] {
    absl::Status s = inflight.front().get();
    inflight.pop_front();
    if (first_error.ok()) first_error = s;
  };
  for (size_t i = 0; i + 1 < directories.size() && first_error.ok(); ++i) {
    if (inflight.size() >= kParallelPuts) wait_one();
    inflight.push_back(std::async(std::launch::async, put, std::cref(directories[i])));
  }
  while (!inflight.empty()) wait_one();
  RETURN_IF_ERROR(first_error);
  // The root last: once it is visible, so is all it refers to.
  return put(directories.back());
}

absl::Status S3DirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  return castore::WalkClosure(*this, root, fn);
}

absl::Status S3DirectoryService::ForEach(const std::function<absl::Status(const B3Digest&)>&) {
  return absl::UnimplementedError(absl::StrCat("listing the directories of ",
                                               client_->address().Display(),
                                               " is not supported (no gc on S3)"));
}

absl::Status S3DirectoryService::Delete(std::span<const B3Digest>) {
  return absl::UnimplementedError(absl::StrCat("deleting directories from ",
                                               client_->address().Display(),
                                               " is not supported (no gc on S3)"));
}

absl::StatusOr<castore::Entry> S3RootService::Decode(std::string_view name, std::string_view key,
                                                     std::string_view object) const {
  auto entry = castore::DecodeEntry(object);
  auto where = [&] {
    return absl::StrCat("root ", castore::QuoteName(name), " (", client_->address().Display(), "/",
                        ToAbslView(key), ")");
  };
  if (!entry.ok()) {
    return absl::DataLossError(
        absl::StrCat(where(), ": object does not decode: ", entry.status().message()));
  }
  if (entry->name.str() != name) {
    return absl::DataLossError(
        absl::StrCat(where(), ": the entry is named ", castore::QuoteName(entry->name.str())));
  }
  return entry;
}

absl::StatusOr<std::optional<castore::Entry>> S3RootService::Get(
    const castore::PathComponent& name) {
  const std::string key = RootKey(name.str());
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client_->Get(key));
  if (!got.has_value()) return std::nullopt;
  return Decode(name.str(), key, got->data);
}

absl::Status S3RootService::List(const std::function<absl::Status(const castore::Entry&)>& fn) {
  return ForEachNamedObject(
      *client_, kRootsPrefix,
      [](std::string_view key) -> std::optional<std::string> {
        auto name = RootNameFromKey(key);
        if (!name.ok()) return std::nullopt;
        return *std::move(name);
      },
      [&](const std::string& name, const std::string& key, std::string_view object) {
        ASSIGN_OR_RETURN(castore::Entry entry, Decode(name, key, object));
        return fn(entry);
      });
}

absl::Status S3RootService::Put(const castore::Entry& root) {
  return client_->Put(RootKey(root.name.str()), castore::EncodeEntry(root)).status();
}

absl::StatusOr<bool> S3RootService::Remove(const castore::PathComponent& name) {
  const std::string key = RootKey(name.str());
  ASSIGN_OR_RETURN(std::optional<s3::ObjectInfo> there, client_->Head(key));
  if (!there.has_value()) return false;
  RETURN_IF_ERROR(client_->Delete(key));
  return true;
}

}  // namespace castor::s3store
