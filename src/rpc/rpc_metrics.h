// gRPC interceptors that count calls into the metrics registry
// (base/metrics.h): the server's per method (started, handled by status
// code, handling time) and the client backends' per method (calls by code,
// latency: the remote fetch latency of a mount or a client of a daemon).
// The method label is the full method name when the method belongs to a
// service compiled into castor (found in the protobuf generated pool), and
// "other" for anything else, so a client calling made-up methods cannot
// grow the label set.
// Thread-safe: the factories are shared by every call of a server/channel.
#pragma once

#include <memory>
#include <vector>

#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/server_interceptor.h"

namespace castor::rpc {

// For grpc::ServerBuilder::experimental().SetInterceptorCreators.
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ServerMetricsInterceptors();

// For grpc::experimental::CreateCustomChannelWithInterceptors.
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ClientMetricsInterceptors();

}  // namespace castor::rpc
