// NAR -> castore, streaming: ImportNar reads one NAR from a ByteSource and
// stores it as castore blobs and Directories while it streams, computing the
// NAR's size and SHA-256 on the way (what a path info records). Memory stays
// bounded by the tree's shape, never by the NAR's size: file contents go
// through a castore::BlobSink (hashed as they pass, written only when the
// blob is missing; big files stream into a blob writer), and since a NAR
// lists a directory's entries before it closes, each Directory is complete
// at its end and goes to one DirectoryPutter leaves first (bottom-up, all
// or nothing).
//
// The NAR is parsed strictly (nar_reader.h): anything but the canonical form
// is InvalidArgument "NAR at offset N: ...". Errors of the source pass
// through; errors of the services name the NAR path. Blobs written before an
// error stay as unreferenced objects for `castor gc`; no Directory is stored
// unless the whole NAR was read.
//
// NarTreeBuilder is the part that turns NAR events into castore nodes; it is
// kept apart from the parsing, and leaves the Directories themselves to the
// castore::TreeBuilder every import shares. Thread-safety: ImportNar is
// thread-safe when the services are; a NarTreeBuilder belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/import/blob_sink.h"
#include "castore/import/import.h"
#include "castore/import/tree_builder.h"
#include "castore/node.h"
#include "nix/castore_nar.h"
#include "nix/io.h"
#include "nix/nar.h"

namespace castor::nix {

// Receives the events of one NAR and builds castore nodes from them: files
// into blobs (BlobSink), directories into Directories sent to `putter` as
// they close (castore::TreeBuilder, entries at most `max_depth` directories
// below the root). After the NAR's events, top() is its node.
class NarTreeBuilder : public NarVisitor {
 public:
  NarTreeBuilder(castore::BlobService& blobs, castore::DirectoryPutter& putter,
                 size_t max_depth = castore::kMaxTreeDepth)
      : blobs_(blobs), tree_(putter, max_depth) {}

  absl::Status StartDirectory() override;
  absl::Status EntryName(std::string_view name) override;
  absl::Status EndDirectory() override;
  absl::Status StartFile(uint64_t size, bool executable) override;
  absl::Status FileData(std::string_view data) override;
  absl::Status EndFile() override;
  absl::Status Symlink(std::string_view target) override;

  // The root node, once the NAR is complete (nullopt before).
  const std::optional<castore::Node>& top() const { return top_; }
  // Whether any Directory went to the putter (a NAR of one file or symlink
  // has none, and its putter must not be closed).
  bool put_directories() const { return tree_.directories() > 0; }
  const castore::ImportStats& stats() const { return stats_; }

 private:
  // Where a file or symlink node goes: the open directory's pending entry,
  // or the root.
  absl::Status Place(castore::Node node);
  std::string PendingPath() const;

  castore::BlobService& blobs_;
  castore::TreeBuilder tree_;
  // The open directories' paths inside the NAR ("/" for the root), for
  // messages.
  std::vector<std::string> paths_;
  std::string pending_name_;
  std::unique_ptr<castore::BlobSink> file_;
  bool executable_ = false;
  std::optional<castore::Node> top_;
  castore::ImportStats stats_;
};

struct NarImport {
  castore::Node node;
  NarSummary nar;  // size and SHA-256 of the NAR bytes read
  castore::ImportStats stats;
};

// Reads one NAR (and nothing after it) from `nar` into the services.
absl::StatusOr<NarImport> ImportNar(castore::BlobService& blobs,
                                    castore::DirectoryService& directories, ByteSource& nar,
                                    NarLimits limits = {});

}  // namespace castor::nix
