mod compression;
mod csv;
mod full_disk;
mod golden_output;
mod proto_daemon;
mod proto_stream;
mod protoc_fields;
mod rotation;
