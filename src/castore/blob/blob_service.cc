#include "castore/blob/blob_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::castore {

absl::Status VerifyReader(const BlobReader& reader, const B3Digest& digest) {
  Blake3Hasher hasher;
  std::vector<uint8_t> buf(1 << 20);
  uint64_t total = 0;
  while (true) {
    auto n = reader.ReadAt(total, buf);
    if (!n.ok()) return Annotate(n.status(), absl::StrCat("blob ", digest.ToB3()));
    if (*n == 0) break;
    hasher.Update(std::span<const uint8_t>(buf.data(), *n));
    total += *n;
  }
  if (total != reader.size()) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": read ", total,
                                            " bytes, expected ", reader.size()));
  }
  B3Digest actual = hasher.Finalize();
  if (actual != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(),
                                            ": stored bytes hash to ", actual.ToB3()));
  }
  return absl::OkStatus();
}

absl::Status VerifyBlob(BlobService& service, const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, service.OpenRead(digest));
  if (reader == nullptr) {
    return absl::NotFoundError(absl::StrCat("blob ", digest.ToB3(), " not found"));
  }
  return VerifyReader(*reader, digest);
}

absl::StatusOr<B3Digest> PutBlob(BlobService& service, std::string_view data) {
  ASSIGN_OR_RETURN(auto writer, service.OpenWrite());
  RETURN_IF_ERROR(writer->Write(data));
  return writer->Close();
}

absl::StatusOr<std::optional<std::string>> ReadBlob(BlobService& service,
                                                    const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, service.OpenRead(digest));
  if (reader == nullptr) return std::nullopt;
  std::string out(reader->size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n, reader->ReadAt(done, std::span<uint8_t>(
                                                        reinterpret_cast<uint8_t*>(out.data()) + done,
                                                        out.size() - done)));
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": short read at ",
                                              done, " of ", out.size()));
    }
    done += n;
  }
  return out;
}

}  // namespace castor::castore
