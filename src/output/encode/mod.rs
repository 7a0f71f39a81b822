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
