//! Encoders: records to bytes. JSON Lines and CSV share one way of
//! formatting a value (`text_value`) and one walk over the socket fields
//! (`written_fields`, generated from the field table); protobuf writes the
//! wire format straight from the same table.

pub mod csv;
pub mod json;
mod json_socket;
pub mod line_writer;
pub mod proto;
pub mod table;
mod text_value;
mod written_fields;

/// Bytes a streaming writer (`write_batch_to`) gathers before handing
/// them on: large enough for few system calls, small beside any table.
pub const STREAM_CHUNK: usize = 256 * 1024;

#[cfg(test)]
mod stream_tests;
