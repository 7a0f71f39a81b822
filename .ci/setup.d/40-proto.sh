# Debian's protoc: the independent reader of netpulse's protobuf stream in
# tests/it/output/proto_stream.rs (the build itself compiles the schema with protox).
ci_apt protobuf-compiler
