// The one place where absl::Status and grpc::Status meet. The two code
// vocabularies are the same (both follow google.rpc.Code), so the mapping is
// 1:1 and keeps the message. Stateless, thread-safe.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace castor::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// FromGrpcStatus with `context` (the call and the address) in front of the
// message, for clients.
absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view context);

}  // namespace castor::rpc
