#include "castore/node.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "tvix/castore/protos/castore.pb.h"

namespace castor::castore {

namespace pb = tvix::castore::v1;

std::string QuoteName(std::string_view name) {
  constexpr size_t kShown = 120;
  std::string shown = absl::CHexEscape(ToAbslView(name.substr(0, kShown)));
  if (name.size() > kShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

absl::Status TooDeepError(std::string_view what, std::string_view path) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbslView(what), what.empty() ? "" : " ",
                                                 QuoteName(path), ": more than ", kMaxTreeDepth,
                                                 " levels deep"));
}

absl::StatusOr<PathComponent> PathComponent::Create(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name is empty");
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("name ", QuoteName(name), " is not allowed"));
  }
  if (name.size() > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("name ", QuoteName(name), " is ", name.size(),
                                                   " bytes long, at most ", kMaxLength,
                                                   " are allowed"));
  }
  if (name.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("name ", QuoteName(name), " contains '/'"));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("name ", QuoteName(name), " contains a NUL byte"));
  }
  return PathComponent(std::string(name));
}

absl::StatusOr<SymlinkTarget> SymlinkTarget::Create(std::string_view target) {
  if (target.empty()) return absl::InvalidArgumentError("symlink target is empty");
  if (target.size() > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symlink target is ", target.size(), " bytes long, at most ", kMaxLength, " are allowed"));
  }
  if (target.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("symlink target ", QuoteName(target), " contains a NUL byte"));
  }
  return SymlinkTarget(std::string(target));
}

std::string_view NodeKind(const Node& node) {
  switch (node.index()) {
    case 0:
      return "directory";
    case 1:
      return "file";
    default:
      return "symlink";
  }
}

namespace {

absl::StatusOr<PathComponent> NameFromProto(const std::string& name) {
  auto pc = PathComponent::Create(name);
  if (!pc.ok()) return Annotate(pc.status(), absl::StrCat("entry ", QuoteName(name)));
  return pc;
}

absl::StatusOr<B3Digest> DigestFromProto(const std::string& name, const std::string& digest) {
  auto d = B3Digest::FromBytes(digest);
  if (!d.ok()) return Annotate(d.status(), absl::StrCat("entry ", QuoteName(name)));
  return d;
}

}  // namespace

absl::StatusOr<Entry> EntryFromProto(const pb::Node& proto) {
  switch (proto.node_case()) {
    case pb::Node::kDirectory: {
      const auto& n = proto.directory();
      ASSIGN_OR_RETURN(auto name, NameFromProto(n.name()));
      ASSIGN_OR_RETURN(auto digest, DigestFromProto(n.name(), n.digest()));
      return Entry{std::move(name), DirectoryNode{digest, n.size()}};
    }
    case pb::Node::kFile: {
      const auto& n = proto.file();
      ASSIGN_OR_RETURN(auto name, NameFromProto(n.name()));
      ASSIGN_OR_RETURN(auto digest, DigestFromProto(n.name(), n.digest()));
      return Entry{std::move(name), FileNode{digest, n.size(), n.executable()}};
    }
    case pb::Node::kSymlink: {
      const auto& n = proto.symlink();
      ASSIGN_OR_RETURN(auto name, NameFromProto(n.name()));
      auto target = SymlinkTarget::Create(n.target());
      if (!target.ok()) {
        return Annotate(target.status(), absl::StrCat("entry ", QuoteName(n.name())));
      }
      return Entry{std::move(name), SymlinkNode{*std::move(target)}};
    }
    default:
      return absl::InvalidArgumentError("node has no directory, file or symlink set");
  }
}

pb::Node EntryToProto(const Entry& entry) {
  pb::Node out;
  std::visit(
      [&](const auto& n) {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, DirectoryNode>) {
          auto* d = out.mutable_directory();
          d->set_name(entry.name.str());
          d->set_digest(std::string(n.digest.raw()));
          d->set_size(n.size);
        } else if constexpr (std::is_same_v<T, FileNode>) {
          auto* f = out.mutable_file();
          f->set_name(entry.name.str());
          f->set_digest(std::string(n.digest.raw()));
          f->set_size(n.size);
          f->set_executable(n.executable);
        } else {
          auto* s = out.mutable_symlink();
          s->set_name(entry.name.str());
          s->set_target(n.target.str());
        }
      },
      entry.node);
  return out;
}

absl::StatusOr<Entry> DecodeEntry(std::string_view bytes) {
  pb::Node proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid Node message (", bytes.size(), " bytes)"));
  }
  return EntryFromProto(proto);
}

std::string EncodeEntry(const Entry& entry) { return EntryToProto(entry).SerializeAsString(); }

}  // namespace castor::castore
