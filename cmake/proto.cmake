# castor_proto_library(TARGET PROTOS... [GRPC] [ROOT dir]) generates C++ (and
# gRPC stubs) for .proto files under proto/ (or ROOT), keeping their import
# paths. Imports resolve in ROOT first, then in proto/.
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
function(castor_proto_library target)
  cmake_parse_arguments(P "GRPC" "ROOT" "PROTOS;DEPS" ${ARGN})
  if(NOT P_ROOT)
    set(P_ROOT ${PROJECT_SOURCE_DIR}/proto)
  endif()
  set(out ${PROJECT_BINARY_DIR}/gen)
  set(srcs)
  foreach(p ${P_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base ${p})
    set(gen ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    set(args --cpp_out=${out})
    if(P_GRPC)
      list(APPEND gen ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
      list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(OUTPUT ${gen}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND protobuf::protoc -I ${P_ROOT} -I ${PROJECT_SOURCE_DIR}/proto ${args} ${P_ROOT}/${p}
      DEPENDS ${P_ROOT}/${p} protobuf::protoc
      COMMENT "protoc ${p}")
    list(APPEND srcs ${gen})
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} SYSTEM PUBLIC ${out})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf ${P_DEPS})
  if(P_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
endfunction()
