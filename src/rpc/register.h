// Registers the gRPC client backends with castore's address registry:
// `grpc+unix:///path.sock` and `grpc+http://host:port` for blob, directory
// and root services. Call once at start-up, before threads (idempotent).
#pragma once

namespace castor::rpc {

void RegisterGrpcSchemes();

}  // namespace castor::rpc
