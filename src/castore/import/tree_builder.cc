#include "castore/import/tree_builder.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory.h"

namespace castor::castore {

absl::Status TreeBuilder::CheckOpen(std::string_view what) const {
  if (frames_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(ToAbslView(what), ": no directory is open to hold it"));
  }
  // The entry lies frames_.size() levels below the root.
  if (frames_.size() > max_depth_) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbslView(what), ": more than ", max_depth_,
                                                   " levels below the tree's root"));
  }
  return absl::OkStatus();
}

absl::Status TreeBuilder::OpenRoot(std::string what) {
  if (root_opened_) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": the tree's root was opened before"));
  }
  root_opened_ = true;
  frames_.push_back(Frame{std::nullopt, std::move(what), {}});
  return absl::OkStatus();
}

absl::Status TreeBuilder::OpenDirectory(PathComponent name, std::string what) {
  RETURN_IF_ERROR(CheckOpen(what));
  frames_.push_back(Frame{std::move(name), std::move(what), {}});
  return absl::OkStatus();
}

absl::Status TreeBuilder::Add(PathComponent name, Node node, std::string_view what) {
  RETURN_IF_ERROR(CheckOpen(what));
  frames_.back().entries.push_back(Entry{std::move(name), std::move(node)});
  return absl::OkStatus();
}

absl::StatusOr<DirectoryNode> TreeBuilder::CloseDirectory() {
  if (frames_.empty()) return absl::FailedPreconditionError("no directory is open to close");
  Frame frame = std::move(frames_.back());
  frames_.pop_back();
  auto directory = Directory::Create(std::move(frame.entries));
  if (!directory.ok()) return Annotate(directory.status(), frame.what);
  RETURN_IF_ERROR(Annotate(putter_.Put(*directory), frame.what));
  ++directories_;
  DirectoryNode node{directory->digest(), directory->size()};
  if (frames_.empty()) {
    root_ = node;
  } else {
    frames_.back().entries.push_back(Entry{*std::move(frame.name), node});
  }
  return node;
}

}  // namespace castor::castore
