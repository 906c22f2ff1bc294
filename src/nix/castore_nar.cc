#include "nix/castore_nar.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/nar_writer.h"

namespace castor::nix {
namespace {

using castore::B3Digest;
using castore::Directory;
using castore::DirectoryNode;
using castore::FileNode;
using castore::Node;
using castore::SymlinkNode;

class Renderer {
 public:
  Renderer(castore::BlobService& blobs, castore::DirectoryService& directories, ByteSink& sink,
           const NarRenderOptions& options)
      : blobs_(blobs), directories_(directories), writer_(sink), options_(options) {}

  absl::Status Render(const Node& root) {
    RETURN_IF_ERROR(Emit(root, "/"));
    while (!stack_.empty()) {
      Frame& top = stack_.back();
      if (top.next == top.directory.entries().size()) {
        stack_.pop_back();
        RETURN_IF_ERROR(writer_.EndDirectory());
        continue;
      }
      const castore::Entry& entry = top.directory.entries()[top.next++];
      std::string path = absl::StrCat(top.path == "/" ? "" : top.path, "/", entry.name.str());
      if (stack_.size() > castore::kMaxTreeDepth) return castore::TooDeepError("NAR entry", path);
      RETURN_IF_ERROR(writer_.EntryName(entry.name.str()));
      // Emit may grow stack_, moving `top` and the entry: give it a copy.
      const castore::Node node = entry.node;
      RETURN_IF_ERROR(Emit(node, path));
    }
    return writer_.Finish();
  }

 private:
  struct Frame {
    Directory directory;
    size_t next = 0;
    std::string path;
  };

  absl::Status Emit(const Node& node, const std::string& path) {
    if (const auto* d = std::get_if<DirectoryNode>(&node)) return EmitDirectory(*d, path);
    if (const auto* f = std::get_if<FileNode>(&node)) return EmitFile(*f, path);
    return writer_.Symlink(std::get<SymlinkNode>(node).target.str());
  }

  absl::Status EmitDirectory(const DirectoryNode& node, const std::string& path) {
    ASSIGN_OR_RETURN(std::optional<Directory> dir, directories_.Get(node.digest));
    if (!dir) {
      return absl::NotFoundError(absl::StrCat("NAR path ", castore::QuoteName(path), ": directory ",
                                              node.digest.ToB3(), " is not in the store"));
    }
    if (dir->size() != node.size) {
      return absl::DataLossError(absl::StrCat("NAR path ", castore::QuoteName(path), ": directory ",
                                              node.digest.ToB3(), " has size ", dir->size(),
                                              ", its parent says ", node.size));
    }
    RETURN_IF_ERROR(writer_.StartDirectory());
    stack_.push_back(Frame{*std::move(dir), 0, path});
    return absl::OkStatus();
  }

  absl::Status Corrupt(const FileNode& node, const std::string& path, std::string_view why) {
    return absl::DataLossError(absl::StrCat("NAR path ", castore::QuoteName(path), ": blob ",
                                            node.digest.ToB3(), " ", ToAbslView(why)));
  }

  absl::Status EmitFile(const FileNode& node, const std::string& path) {
    ASSIGN_OR_RETURN(std::unique_ptr<castore::BlobReader> reader,
                     blobs_.OpenReadSized(node.digest, node.size));
    if (reader == nullptr) {
      return absl::NotFoundError(absl::StrCat("NAR path ", castore::QuoteName(path), ": blob ",
                                              node.digest.ToB3(), " is not in the store"));
    }
    if (reader->size() != node.size) {
      return Corrupt(
          node, path,
          absl::StrCat("has ", reader->size(), " bytes, the file node says ", node.size));
    }
    const bool trusted = reader->Verified();
    if (!trusted && node.size <= options_.verify_in_memory_limit) {
      std::string data(node.size, '\0');
      ASSIGN_OR_RETURN(uint64_t got, ReadRange(*reader, node, path, 0,
                                               std::span<char>(data.data(), data.size())));
      if (got != node.size || B3Digest::Of(std::string_view(data)) != node.digest) {
        return Corrupt(node, path, "does not match its digest (nothing of it was sent)");
      }
      RETURN_IF_ERROR(writer_.StartFile(node.size, node.executable));
      if (!data.empty()) RETURN_IF_ERROR(writer_.FileData(data));
      return writer_.EndFile();
    }
    if (!trusted && options_.verify_large_files_first) {
      absl::Status s = castore::VerifyReader(*reader, node.digest);
      if (!s.ok()) {
        return Annotate(
            s, absl::StrCat("NAR path ", castore::QuoteName(path), " (checked before sending)"));
      }
    }
    RETURN_IF_ERROR(writer_.StartFile(node.size, node.executable));
    castore::Blake3Hasher hasher;
    buffer_.resize(kChunk);
    uint64_t offset = 0;
    while (offset < node.size) {
      ASSIGN_OR_RETURN(uint64_t n,
                       ReadRange(*reader, node, path, offset,
                                 std::span<char>(buffer_.data(),
                                                 std::min<uint64_t>(kChunk, node.size - offset))));
      if (n == 0) break;
      std::string_view chunk(buffer_.data(), n);
      if (!trusted) hasher.Update(chunk);
      RETURN_IF_ERROR(writer_.FileData(chunk));
      offset += n;
    }
    if (offset != node.size || (!trusted && hasher.Finalize() != node.digest)) {
      return Corrupt(node, path, "does not match its digest; the NAR sent so far is invalid");
    }
    return writer_.EndFile();
  }

  // Fills `buf` from `offset` unless the blob ends first; returns the bytes read.
  absl::StatusOr<uint64_t> ReadRange(const castore::BlobReader& reader, const FileNode& node,
                                     const std::string& path, uint64_t offset,
                                     std::span<char> buf) {
    uint64_t done = 0;
    while (done < buf.size()) {
      auto n = reader.ReadAt(
          offset + done,
          std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()) + done, buf.size() - done));
      if (!n.ok()) {
        return Annotate(n.status(), absl::StrCat("NAR path ", castore::QuoteName(path), ": blob ",
                                                 node.digest.ToB3()));
      }
      if (*n == 0) break;
      done += *n;
    }
    return done;
  }

  static constexpr size_t kChunk = 256 * 1024;

  castore::BlobService& blobs_;
  castore::DirectoryService& directories_;
  NarWriter writer_;
  const NarRenderOptions& options_;
  std::vector<Frame> stack_;
  std::vector<char> buffer_;
};

}  // namespace

absl::StatusOr<NarSummary> RenderNar(castore::BlobService& blobs,
                                     castore::DirectoryService& directories,
                                     const castore::Node& root, ByteSink& sink,
                                     const NarRenderOptions& options) {
  HashingSink hashing(HashAlgo::kSha256, &sink);
  Renderer renderer(blobs, directories, hashing, options);
  RETURN_IF_ERROR(renderer.Render(root));
  return NarSummary{hashing.bytes(), hashing.Finish()};
}

absl::StatusOr<NarSummary> CalculateNar(castore::BlobService& blobs,
                                        castore::DirectoryService& directories,
                                        const castore::Node& root,
                                        const NarRenderOptions& options) {
  NullSink sink;
  return RenderNar(blobs, directories, root, sink, options);
}

}  // namespace castor::nix
