//! Generated message types ↔ `record::Batch`.
//!
//! Both directions name every field without `..` (the socket and system
//! records' and the counters' through their field tables): a field added
//! to a record or to the schema
//! fails to compile here until it is mapped, so the binary output can
//! never silently lose a field.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use super::Origin;
use super::pb;
use crate::record::{
    Batch, STATE_COUNT, ShortName, SocketRecord, StateCounts, SystemRecord, TcpCounterDeltas,
    TcpCounters, TcpState, Tier, set_field, socket_fields, system_fields, tcp_counter_rows,
};

/// Which record of a batch a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef {
    /// The batch message itself.
    Batch,
    Header,
    System,
    /// Index into the batch's socket records, from 0.
    Socket(usize),
    /// Index into the batch's close records, from 0.
    Close(usize),
}

impl std::fmt::Display for RecordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordRef::Batch => f.write_str("batch"),
            RecordRef::Header => f.write_str("header"),
            RecordRef::System => f.write_str("system record"),
            RecordRef::Socket(i) => write!(f, "socket record {i}"),
            RecordRef::Close(i) => write!(f, "close record {i}"),
        }
    }
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    UnknownEnumValue(i32),
    AddressLength(usize),
    PortAboveMax(u32),
    ValueTooLarge(u64),
    SlotCount(usize),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("is missing"),
            Problem::UnknownEnumValue(v) => write!(
                f,
                "has the enum value {v}, which this netpulse does not know \
                 (written by a newer netpulse? decode with that version)"
            ),
            Problem::AddressLength(n) => {
                write!(f, "is {n} bytes long; an address is 4 (IPv4) or 16 (IPv6)")
            }
            Problem::PortAboveMax(p) => write!(f, "is {p}, above the largest port 65535"),
            Problem::ValueTooLarge(v) => write!(f, "is {v}, too large for this field"),
            Problem::SlotCount(n) => write!(f, "has {n} slots, expected {STATE_COUNT}"),
        }
    }
}

/// A well-formed protobuf message whose content is not a valid batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{record}: field `{field}` {problem}")]
pub struct InvalidBatch {
    pub record: RecordRef,
    pub field: &'static str,
    pub problem: Problem,
}

// ---------------------------------------------------------------- to pb

/// The generated-types form of a batch (the reference the fast encoder is
/// checked against).
pub(super) fn to_pb(batch: &Batch, origin: &Origin) -> pb::Batch {
    let Batch {
        tier,
        ts,
        seq,
        interval_ms,
        system,
        sockets,
        closes,
    } = batch;
    pb::Batch {
        header: Some(pb::Header {
            host: origin.host.clone(),
            platform: origin.platform.clone(),
            tier: tier_to_pb(*tier),
            interval_ms: *interval_ms,
            ts: *ts,
            seq: *seq,
            agent_version: origin.agent_version.clone(),
        }),
        system: system.as_ref().map(system_to_pb),
        sockets: sockets.iter().map(socket_to_pb).collect(),
        closes: closes.iter().map(socket_to_pb).collect(),
    }
}

pub(super) fn tier_to_pb(t: Option<Tier>) -> i32 {
    (match t {
        None => pb::Tier::Unspecified,
        Some(Tier::Fast) => pb::Tier::Fast,
        Some(Tier::Standard) => pb::Tier::Standard,
        Some(Tier::Slow) => pb::Tier::Slow,
        Some(Tier::Aggregate) => pb::Tier::Aggregate,
    }) as i32
}

/// Network-order address bytes (4 or 16 used), port, IPv6 scope id.
pub(super) struct AddrParts {
    pub bytes: [u8; 16],
    pub len: usize,
    pub port: u32,
    pub scope_id: u32,
}

impl AddrParts {
    pub fn of(a: &SocketAddr) -> AddrParts {
        let mut bytes = [0u8; 16];
        match a {
            SocketAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.ip().octets());
                AddrParts {
                    bytes,
                    len: 4,
                    port: u32::from(v4.port()),
                    scope_id: 0,
                }
            }
            SocketAddr::V6(v6) => {
                bytes.copy_from_slice(&v6.ip().octets());
                AddrParts {
                    bytes,
                    len: 16,
                    port: u32::from(v6.port()),
                    scope_id: v6.scope_id(),
                }
            }
        }
    }

    pub fn addr(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Both directions of the system record, from the table. The literal and
/// the destructuring name every message field and have no `..`.
macro_rules! system_conversions {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident;
    )*) => {
        fn system_to_pb(s: &SystemRecord) -> pb::SystemRecord {
            pb::SystemRecord {
                $( $name: PbValue::to_pb(&s.$name), )*
            }
        }

        fn system_from_pb(m: pb::SystemRecord) -> Result<SystemRecord, InvalidBatch> {
            let pb::SystemRecord { $($name),* } = m;
            Ok(SystemRecord {
                $( $name: PbValue::from_pb($name, RecordRef::System, stringify!($name))?, )*
            })
        }
    };
}
system_fields!(system_conversions);

/// Both counter groups to and from the `TcpCounters` message, whose
/// fields carry the counter names.
macro_rules! counter_conversions {
    ($($name:ident => $delta:ident,)*) => {
        /// `None` when no counter was read, so an absent message means "none".
        pub(super) fn counters_to_pb(c: &TcpCounters) -> Option<pb::TcpCounters> {
            let m = pb::TcpCounters { $( $name: c.$name, )* };
            (m != pb::TcpCounters::default()).then_some(m)
        }

        pub(super) fn deltas_to_pb(d: &TcpCounterDeltas) -> Option<pb::TcpCounters> {
            let m = pb::TcpCounters { $( $name: d.$delta, )* };
            (m != pb::TcpCounters::default()).then_some(m)
        }

        fn counters_from_pb(m: Option<pb::TcpCounters>) -> TcpCounters {
            let pb::TcpCounters { $($name),* } = m.unwrap_or_default();
            TcpCounters { $($name),* }
        }

        fn deltas_from_pb(m: Option<pb::TcpCounters>) -> TcpCounterDeltas {
            let pb::TcpCounters { $($name),* } = m.unwrap_or_default();
            TcpCounterDeltas { $( $delta: $name, )* }
        }
    };
}
tcp_counter_rows!(counter_conversions);

impl PbValue for TcpCounters {
    type Pb = Option<pb::TcpCounters>;

    fn to_pb(&self) -> Self::Pb {
        counters_to_pb(self)
    }

    fn from_pb(v: Self::Pb, _: RecordRef, _: &'static str) -> Result<Self, InvalidBatch> {
        Ok(counters_from_pb(v))
    }
}

impl PbValue for TcpCounterDeltas {
    type Pb = Option<pb::TcpCounters>;

    fn to_pb(&self) -> Self::Pb {
        deltas_to_pb(self)
    }

    fn from_pb(v: Self::Pb, _: RecordRef, _: &'static str) -> Result<Self, InvalidBatch> {
        Ok(deltas_from_pb(v))
    }
}

/// The per-state counts: exactly one slot per state.
impl PbValue for StateCounts {
    type Pb = Vec<u64>;

    fn to_pb(&self) -> Vec<u64> {
        self.to_vec()
    }

    fn from_pb(v: Vec<u64>, record: RecordRef, field: &'static str) -> Result<Self, InvalidBatch> {
        <StateCounts>::try_from(v.as_slice()).map_err(|_| InvalidBatch {
            record,
            field,
            problem: Problem::SlotCount(v.len()),
        })
    }
}

/// Builds the `pb::SocketRecord` literal from the table's rows. The
/// literal names every message field and has no `..`: a schema field the
/// table lacks (or a table field the schema lacks) fails to compile here.
macro_rules! socket_to_pb {
    (@acc $r:ident [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal,
        addr($scope:literal $addr:ident $port:ident $scope_id:ident), $timing:ident;
        $($rest:tt)*
    ) => {
        socket_to_pb! { @acc $r [$($acc)*
            $addr: AddrParts::of(&$r.$name).addr().to_vec(),
            $port: AddrParts::of(&$r.$name).port,
            $scope_id: AddrParts::of(&$r.$name).scope_id,
        ] $($rest)* }
    };
    // Never leaves the process (a kernel address on FreeBSD).
    (@acc $r:ident [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, hidden, $timing:ident;
        $($rest:tt)*
    ) => {
        socket_to_pb! { @acc $r [$($acc)*] $($rest)* }
    };
    (@acc $r:ident [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
        $($rest:tt)*
    ) => {
        socket_to_pb! { @acc $r [$($acc)* $name: PbValue::to_pb(&$r.$name()),] $($rest)* }
    };
    (@acc $r:ident [$($acc:tt)*]) => {
        pb::SocketRecord { $($acc)* }
    };
}

fn socket_to_pb(r: &SocketRecord) -> pb::SocketRecord {
    socket_fields!(socket_to_pb, @acc r [])
}

/// A socket field's type as the generated message holds it.
trait PbValue: Sized {
    type Pb;

    fn to_pb(&self) -> Self::Pb;

    /// Back from the message, refusing values this type cannot hold.
    fn from_pb(v: Self::Pb, record: RecordRef, field: &'static str) -> Result<Self, InvalidBatch>;
}

/// Types the message holds as they are.
macro_rules! same_in_pb {
    ($($t:ty),*) => {$(
        impl PbValue for $t {
            type Pb = $t;

            fn to_pb(&self) -> $t {
                *self
            }

            fn from_pb(v: $t, _: RecordRef, _: &'static str) -> Result<$t, InvalidBatch> {
                Ok(v)
            }
        }
    )*};
}
same_in_pb!(u64, Option<u64>, Option<u32>, Option<i32>, Option<f64>);

/// Window scales: `uint32` in the message, at most 255 here.
impl PbValue for Option<u8> {
    type Pb = Option<u32>;

    fn to_pb(&self) -> Option<u32> {
        self.map(u32::from)
    }

    fn from_pb(
        v: Option<u32>,
        record: RecordRef,
        field: &'static str,
    ) -> Result<Self, InvalidBatch> {
        narrow_u8(v, record, field)
    }
}

impl PbValue for Option<ShortName> {
    type Pb = Option<String>;

    fn to_pb(&self) -> Option<String> {
        self.map(|n| n.as_str().to_string())
    }

    fn from_pb(v: Option<String>, _: RecordRef, _: &'static str) -> Result<Self, InvalidBatch> {
        Ok(v.as_deref().map(ShortName::new))
    }
}

impl PbValue for Option<Arc<str>> {
    type Pb = Option<String>;

    fn to_pb(&self) -> Option<String> {
        self.as_deref().map(str::to_string)
    }

    fn from_pb(v: Option<String>, _: RecordRef, _: &'static str) -> Result<Self, InvalidBatch> {
        Ok(v.map(Arc::from))
    }
}

impl PbValue for Option<Tier> {
    type Pb = i32;

    fn to_pb(&self) -> i32 {
        tier_to_pb(*self)
    }

    fn from_pb(v: i32, record: RecordRef, _: &'static str) -> Result<Self, InvalidBatch> {
        tier_from_pb(v, record)
    }
}

impl PbValue for TcpState {
    type Pb = i32;

    fn to_pb(&self) -> i32 {
        self.index() as i32
    }

    fn from_pb(v: i32, record: RecordRef, field: &'static str) -> Result<Self, InvalidBatch> {
        u32::try_from(v)
            .ok()
            .and_then(TcpState::from_freebsd)
            .ok_or(InvalidBatch {
                record,
                field,
                problem: Problem::UnknownEnumValue(v),
            })
    }
}

// -------------------------------------------------------------- from pb

/// A decoded message back to a batch, validating every enum, address,
/// port and narrow integer. Names longer than `ShortName::CAPACITY` (not
/// written by netpulse) are truncated.
pub(super) fn from_pb(m: pb::Batch) -> Result<(Origin, Batch), InvalidBatch> {
    let pb::Batch {
        header,
        system,
        sockets,
        closes,
    } = m;
    let Some(pb::Header {
        host,
        platform,
        tier,
        interval_ms,
        ts,
        seq,
        agent_version,
    }) = header
    else {
        return Err(InvalidBatch {
            record: RecordRef::Batch,
            field: "header",
            problem: Problem::Missing,
        });
    };
    let batch = Batch {
        tier: tier_from_pb(tier, RecordRef::Header)?,
        ts,
        seq,
        interval_ms,
        system: system.map(system_from_pb).transpose()?,
        sockets: sockets
            .into_iter()
            .enumerate()
            .map(|(i, s)| socket_from_pb(s, RecordRef::Socket(i)))
            .collect::<Result<_, _>>()?,
        closes: closes
            .into_iter()
            .enumerate()
            .map(|(i, s)| socket_from_pb(s, RecordRef::Close(i)))
            .collect::<Result<_, _>>()?,
    };
    Ok((
        Origin {
            host,
            platform,
            agent_version,
        },
        batch,
    ))
}

fn tier_from_pb(v: i32, record: RecordRef) -> Result<Option<Tier>, InvalidBatch> {
    match pb::Tier::try_from(v) {
        Ok(pb::Tier::Unspecified) => Ok(None),
        Ok(pb::Tier::Fast) => Ok(Some(Tier::Fast)),
        Ok(pb::Tier::Standard) => Ok(Some(Tier::Standard)),
        Ok(pb::Tier::Slow) => Ok(Some(Tier::Slow)),
        Ok(pb::Tier::Aggregate) => Ok(Some(Tier::Aggregate)),
        Err(_) => Err(InvalidBatch {
            record,
            field: "tier",
            problem: Problem::UnknownEnumValue(v),
        }),
    }
}

fn addr_from_pb(
    bytes: &[u8],
    port: u32,
    scope_id: u32,
    record: RecordRef,
    fields: [&'static str; 2],
) -> Result<SocketAddr, InvalidBatch> {
    let port = u16::try_from(port).map_err(|_| InvalidBatch {
        record,
        field: fields[1],
        problem: Problem::PortAboveMax(port),
    })?;
    let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        IpAddr::V6(Ipv6Addr::from(v6))
    } else {
        return Err(InvalidBatch {
            record,
            field: fields[0],
            problem: Problem::AddressLength(bytes.len()),
        });
    };
    Ok(match ip {
        IpAddr::V4(ip) => SocketAddr::V4(SocketAddrV4::new(ip, port)),
        IpAddr::V6(ip) => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)),
    })
}

fn narrow_u8(
    v: Option<u32>,
    record: RecordRef,
    field: &'static str,
) -> Result<Option<u8>, InvalidBatch> {
    v.map(|v| {
        u8::try_from(v).map_err(|_| InvalidBatch {
            record,
            field,
            problem: Problem::ValueTooLarge(u64::from(v)),
        })
    })
    .transpose()
}

/// One field of the table from the message (`m`, moved out field by field).
macro_rules! field_from_pb {
    ($m:ident, $record:ident, $name:ident, addr($scope:literal $addr:ident $port:ident $scope_id:ident)) => {
        addr_from_pb(
            &$m.$addr,
            $m.$port,
            $m.$scope_id,
            $record,
            [stringify!($addr), stringify!($port)],
        )?
    };
    // Not on the wire.
    ($m:ident, $record:ident, $name:ident, hidden) => {
        None
    };
    ($m:ident, $record:ident, $name:ident, $kind:ident $(($($arg:tt)*))?) => {
        PbValue::from_pb($m.$name, $record, stringify!($name))?
    };
}

macro_rules! socket_from_pb {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        fn socket_from_pb(m: pb::SocketRecord, record: RecordRef) -> Result<SocketRecord, InvalidBatch> {
            let mut r = SocketRecord::blank();
            $( set_field!($kind, r, $name, field_from_pb!(m, record, $name, $kind $(($($arg)*))?)); )*
            Ok(r)
        }
    };
}
socket_fields!(socket_from_pb);
