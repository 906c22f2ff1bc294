#include "castore/directory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "tvix/castore/protos/castore.pb.h"

namespace castor::castore {

namespace pb = tvix::castore::v1;

namespace {

bool NameLess(const Entry& a, const Entry& b) { return a.name < b.name; }

// Entries + sum of child directory sizes, or InvalidArgument on overflow.
absl::StatusOr<uint64_t> ComputeSize(const std::vector<Entry>& entries) {
  uint64_t size = entries.size();
  for (const Entry& e : entries) {
    if (const auto* d = std::get_if<DirectoryNode>(&e.node)) {
      if (__builtin_add_overflow(size, d->size, &size)) {
        return absl::InvalidArgumentError(
            absl::StrCat("entry ", QuoteName(e.name.str()), ": directory size ", d->size,
                         " makes the parent's size overflow 64 bits"));
      }
    }
  }
  return size;
}

// Checks one list of the protobuf is strictly ascending by name.
template <typename List>
absl::Status CheckSorted(const List& list, std::string_view what) {
  for (int i = 1; i < list.size(); ++i) {
    const std::string& prev = list[i - 1].name();
    const std::string& cur = list[i].name();
    if (prev == cur) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", QuoteName(cur), ": duplicate name in ", ToAbslView(what)));
    }
    if (prev.compare(cur) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", QuoteName(cur), ": ", ToAbslView(what),
                       " are not sorted (comes after ", QuoteName(prev), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Directory::Directory() : digest_(EmptyDigest()) {}

Directory::Directory(std::vector<Entry> entries, uint64_t size)
    : entries_(std::move(entries)), size_(size) {
  digest_ = B3Digest::Of(Encode());
}

absl::StatusOr<Directory> Directory::Create(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), NameLess);
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].name == entries[i].name) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", QuoteName(entries[i].name.str()), ": duplicate name"));
    }
  }
  ASSIGN_OR_RETURN(uint64_t size, ComputeSize(entries));
  return Directory(std::move(entries), size);
}

absl::StatusOr<Directory> Directory::FromProto(const pb::Directory& proto) {
  RETURN_IF_ERROR(CheckSorted(proto.directories(), "directories"));
  RETURN_IF_ERROR(CheckSorted(proto.files(), "files"));
  RETURN_IF_ERROR(CheckSorted(proto.symlinks(), "symlinks"));
  std::vector<Entry> entries;
  entries.reserve(proto.directories_size() + proto.files_size() + proto.symlinks_size());
  pb::Node node;
  for (const auto& d : proto.directories()) {
    *node.mutable_directory() = d;
    ASSIGN_OR_RETURN(auto e, EntryFromProto(node));
    entries.push_back(std::move(e));
  }
  for (const auto& f : proto.files()) {
    *node.mutable_file() = f;
    ASSIGN_OR_RETURN(auto e, EntryFromProto(node));
    entries.push_back(std::move(e));
  }
  for (const auto& s : proto.symlinks()) {
    *node.mutable_symlink() = s;
    ASSIGN_OR_RETURN(auto e, EntryFromProto(node));
    entries.push_back(std::move(e));
  }
  // Each list is sorted; a name repeated across lists shows up as equal
  // neighbours once all are merged.
  std::sort(entries.begin(), entries.end(), NameLess);
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].name == entries[i].name) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", QuoteName(entries[i].name.str()), ": name appears as both ",
                       ToAbslView(NodeKind(entries[i - 1].node)), " and ",
                       ToAbslView(NodeKind(entries[i].node))));
    }
  }
  ASSIGN_OR_RETURN(uint64_t size, ComputeSize(entries));
  return Directory(std::move(entries), size);
}

absl::StatusOr<Directory> Directory::Decode(std::string_view bytes) {
  pb::Directory proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid Directory message (", bytes.size(), " bytes)"));
  }
  return FromProto(proto);
}

const Entry* Directory::Find(std::string_view name) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), name,
      [](const Entry& e, std::string_view n) { return e.name.str().compare(n) < 0; });
  if (it == entries_.end() || it->name.str() != name) return nullptr;
  return &*it;
}

pb::Directory Directory::ToProto() const {
  pb::Directory out;
  for (const Entry& e : entries_) {
    std::visit(
        [&](const auto& n) {
          using T = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<T, DirectoryNode>) {
            auto* d = out.add_directories();
            d->set_name(e.name.str());
            d->set_digest(std::string(n.digest.raw()));
            d->set_size(n.size);
          } else if constexpr (std::is_same_v<T, FileNode>) {
            auto* f = out.add_files();
            f->set_name(e.name.str());
            f->set_digest(std::string(n.digest.raw()));
            f->set_size(n.size);
            f->set_executable(n.executable);
          } else {
            auto* s = out.add_symlinks();
            s->set_name(e.name.str());
            s->set_target(n.target.str());
          }
        },
        e.node);
  }
  return out;
}

std::string Directory::Encode() const {
  // Generated code serializes known fields in field-number order and omits
  // proto3 defaults: that is the canonical form.
  std::string out;
  ToProto().SerializeToString(&out);
  return out;
}

}  // namespace castor::castore
