#include "castore/testing/faulty_services.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore::testing {

void FaultInjector::Set(FaultSchedule schedule) {
  castor::MutexLock lock(&mu_);
  schedule_ = schedule;
  schedule_.every = std::max<uint64_t>(schedule_.every, 1);
  schedule_.stall = std::min(schedule_.stall, absl::Seconds(10));
  calls_ = 0;
  left_ = schedule.times;
}

FaultKind FaultInjector::Next() {
  FaultKind kind;
  absl::Duration stall;
  {
    castor::MutexLock lock(&mu_);
    if (schedule_.kind == FaultKind::kNone) return FaultKind::kNone;
    ++calls_;
    if (calls_ % schedule_.every != 0 || left_ == 0) return FaultKind::kNone;
    if (left_ > 0) --left_;
    kind = schedule_.kind;
    stall = schedule_.stall;
  }
  injected_.fetch_add(1);
  if (kind == FaultKind::kStall) absl::SleepFor(stall);
  return kind;
}

absl::Status InjectedUnavailable(std::string_view what) {
  return absl::UnavailableError(absl::StrCat("injected fault: ", ToAbslView(what)));
}

namespace {

// Writes only fail or stall.
bool WriteFails(FaultInjector& faults) { return faults.Next() == FaultKind::kUnavailable; }

class FaultyReader : public BlobReader {
 public:
  FaultyReader(std::unique_ptr<BlobReader> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  uint64_t size() const override { return inner_->size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    switch (faults_->Next()) {
      case FaultKind::kUnavailable:
        return InjectedUnavailable("blob read");
      case FaultKind::kTruncate: {
        uint64_t end = inner_->size() / 2;
        if (offset >= end) return 0;
        return inner_->ReadAt(offset, buf.first(std::min<uint64_t>(buf.size(), end - offset)));
      }
      case FaultKind::kCorrupt: {
        ASSIGN_OR_RETURN(size_t n, inner_->ReadAt(offset, buf));
        for (size_t i = 0; i < n; ++i) buf[i] ^= 0xff;
        return n;
      }
      default:
        return inner_->ReadAt(offset, buf);
    }
  }
  // Never hand out the real file: reads must go through the faults.
  int LocalFd() const override { return -1; }

 private:
  std::unique_ptr<BlobReader> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

class FaultyWriter : public BlobWriter {
 public:
  FaultyWriter(std::unique_ptr<BlobWriter> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  absl::Status Write(std::span<const uint8_t> data) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("blob write");
    return inner_->Write(data);
  }
  absl::StatusOr<B3Digest> Close() override {
    if (WriteFails(*faults_)) return InjectedUnavailable("blob close");
    return inner_->Close();
  }
  uint64_t bytes_written() const override { return inner_->bytes_written(); }

 private:
  std::unique_ptr<BlobWriter> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

class FaultyBlobs : public BlobService {
 public:
  FaultyBlobs(std::shared_ptr<BlobService> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  absl::StatusOr<bool> Has(const B3Digest& digest) override {
    if (faults_->Next() == FaultKind::kUnavailable) return InjectedUnavailable("blob has");
    return inner_->Has(digest);
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override {
    if (faults_->Next() == FaultKind::kUnavailable) return InjectedUnavailable("blob open");
    ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> r, inner_->OpenRead(digest));
    if (r == nullptr) return nullptr;
    return std::make_unique<FaultyReader>(std::move(r), faults_);
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override {
    if (WriteFails(*faults_)) return InjectedUnavailable("blob open for writing");
    ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> w, inner_->OpenWrite());
    return std::make_unique<FaultyWriter>(std::move(w), faults_);
  }
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override {
    if (faults_->Next() == FaultKind::kUnavailable) return InjectedUnavailable("blob chunks");
    return inner_->Chunks(digest);
  }
  absl::Status Sync() override {
    if (WriteFails(*faults_)) return InjectedUnavailable("blob sync");
    return inner_->Sync();
  }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    if (faults_->Next() == FaultKind::kUnavailable) return InjectedUnavailable("blob list");
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& digest) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("blob delete");
    return inner_->Delete(digest);
  }

 private:
  std::shared_ptr<BlobService> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

class FaultyPutter : public DirectoryPutter {
 public:
  FaultyPutter(std::unique_ptr<DirectoryPutter> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  absl::Status Put(const Directory& directory) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("directory put");
    return inner_->Put(directory);
  }
  absl::StatusOr<B3Digest> Close() override {
    if (WriteFails(*faults_)) return InjectedUnavailable("directory putter close");
    return inner_->Close();
  }

 private:
  std::unique_ptr<DirectoryPutter> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

// A Directory other than the one asked for, for kTruncate and kCorrupt.
Directory Damaged(const Directory& d, FaultKind kind) {
  if (kind == FaultKind::kCorrupt || d.entries().empty()) return Directory();
  std::vector<Entry> fewer(d.entries().begin(), d.entries().end() - 1);
  auto out = Directory::Create(std::move(fewer));
  CASTOR_CHECK(out.ok());
  return *std::move(out);
}

class FaultyDirectories : public DirectoryService {
 public:
  FaultyDirectories(std::shared_ptr<DirectoryService> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    FaultKind kind = faults_->Next();
    if (kind == FaultKind::kUnavailable) return InjectedUnavailable("directory get");
    ASSIGN_OR_RETURN(std::optional<Directory> d, inner_->Get(digest));
    if (d && (kind == FaultKind::kTruncate || kind == FaultKind::kCorrupt)) {
      return Damaged(*d, kind);
    }
    return d;
  }
  absl::StatusOr<B3Digest> Put(const Directory& directory) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("directory put");
    return inner_->Put(directory);
  }
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override {
    if (WriteFails(*faults_)) return InjectedUnavailable("directory open putter");
    ASSIGN_OR_RETURN(std::unique_ptr<DirectoryPutter> p, inner_->OpenPutter());
    return std::make_unique<FaultyPutter>(std::move(p), faults_);
  }
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override {
    FaultKind kind = faults_->Next();
    if (kind == FaultKind::kUnavailable) return InjectedUnavailable("directory get recursive");
    if (kind == FaultKind::kTruncate || kind == FaultKind::kCorrupt) {
      return inner_->GetRecursive(root, [&](const Directory& d) { return fn(Damaged(d, kind)); });
    }
    return inner_->GetRecursive(root, fn);
  }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override {
    if (faults_->Next() == FaultKind::kUnavailable) return InjectedUnavailable("directory list");
    return inner_->ForEach(fn);
  }
  absl::Status Delete(std::span<const B3Digest> digests) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("directory delete");
    return inner_->Delete(digests);
  }

 private:
  std::shared_ptr<DirectoryService> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

class FaultyRoots : public RootService {
 public:
  FaultyRoots(std::shared_ptr<RootService> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}
  absl::StatusOr<std::optional<Entry>> Get(const PathComponent& name) override {
    switch (faults_->Next()) {
      case FaultKind::kUnavailable:
        return InjectedUnavailable("root get");
      case FaultKind::kTruncate:
      case FaultKind::kCorrupt:
        return absl::DataLossError(
            absl::StrCat("injected fault: root ", QuoteName(name.str()), " does not decode"));
      default:
        return inner_->Get(name);
    }
  }
  absl::Status List(const std::function<absl::Status(const Entry&)>& fn) override {
    switch (faults_->Next()) {
      case FaultKind::kUnavailable:
        return InjectedUnavailable("root list");
      case FaultKind::kTruncate:
      case FaultKind::kCorrupt:
        return absl::DataLossError("injected fault: a root does not decode");
      default:
        return inner_->List(fn);
    }
  }
  absl::Status Put(const Entry& root) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("root put");
    return inner_->Put(root);
  }
  absl::StatusOr<bool> Remove(const PathComponent& name) override {
    if (WriteFails(*faults_)) return InjectedUnavailable("root remove");
    return inner_->Remove(name);
  }

 private:
  std::shared_ptr<RootService> inner_;
  std::shared_ptr<FaultInjector> faults_;
};

}  // namespace

std::shared_ptr<BlobService> FaultyBlobService(std::shared_ptr<BlobService> inner,
                                               std::shared_ptr<FaultInjector> faults) {
  return std::make_shared<FaultyBlobs>(std::move(inner), std::move(faults));
}
std::shared_ptr<DirectoryService> FaultyDirectoryService(std::shared_ptr<DirectoryService> inner,
                                                         std::shared_ptr<FaultInjector> faults) {
  return std::make_shared<FaultyDirectories>(std::move(inner), std::move(faults));
}
std::shared_ptr<RootService> FaultyRootService(std::shared_ptr<RootService> inner,
                                               std::shared_ptr<FaultInjector> faults) {
  return std::make_shared<FaultyRoots>(std::move(inner), std::move(faults));
}

}  // namespace castor::castore::testing
