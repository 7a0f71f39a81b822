//! The socket fields the outputs write, in output order: every row of the
//! field table but the hidden ones. The JSON line's keys and the CSV
//! columns and header are generated from this one walk.

/// Calls `$then!(field, field, ...)` with every written `SocketRecord`
/// field, in table (= JSON key = CSV column) order.
macro_rules! written_fields {
    ($then:ident) => {
        crate::record::socket_fields! { written_fields_of, @keep $then [] }
    };
}

/// Filters the table's rows (`written_fields_of!(@keep $then [kept] rows)`).
macro_rules! written_fields_of {
    (@keep $then:ident [$($kept:ident)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, hidden, $timing:ident;
        $($rest:tt)*
    ) => {
        written_fields_of! { @keep $then [$($kept)*] $($rest)* }
    };
    (@keep $then:ident [$($kept:ident)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
        $($rest:tt)*
    ) => {
        written_fields_of! { @keep $then [$($kept)* $name] $($rest)* }
    };
    (@keep $then:ident [$($kept:ident)*]) => {
        $then! { $($kept),* }
    };
}
pub(crate) use {written_fields, written_fields_of};
