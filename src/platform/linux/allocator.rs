//! How glibc's allocator holds on to memory (FFI: `mallopt`).
//!
//! By default glibc gives each thread that allocates its own arena (up to
//! eight per core) and lets its mmap threshold grow to 32 MiB, so buffers of
//! a few MiB come from arenas. The agent's threads take turns with the same
//! large buffers (the socket table, the packed close-record table, the
//! change memory, write buffers), so each arena ends up holding its own
//! freed copy: at 40,000 sockets that was ~15 MiB of resident memory doing
//! nothing (see `docs/PERFORMANCE.md`, *Memory*). One arena, and buffers of
//! 4 MiB and more mapped on their own (given back when freed), keep the
//! resident size near what is live. The threshold stays above the buffers
//! made afresh for each batch (256 KiB stream and compression chunks, a
//! `changed` batch for NATS): mapping those anew every tick cost the NATS
//! output ~30 % more CPU at 256 KiB. The large buffers are reused from
//! tick to tick, so this adds no page faults per tick.
//!
//! An operator's own `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_` or
//! `GLIBC_TUNABLES` setting wins: glibc has read it already, and we leave
//! that knob alone.

/// Buffers this large or larger get their own mapping.
const MMAP_THRESHOLD: i32 = 4 << 20;

/// One `mallopt` setting and the operator's ways of making it.
struct Knob {
    param: i32,
    value: i32,
    env: &'static str,
    tunable: &'static str,
}

const KNOBS: [Knob; 2] = [
    Knob {
        param: libc::M_ARENA_MAX,
        value: 1,
        env: "MALLOC_ARENA_MAX",
        tunable: "glibc.malloc.arena_max",
    },
    Knob {
        param: libc::M_MMAP_THRESHOLD,
        value: MMAP_THRESHOLD,
        env: "MALLOC_MMAP_THRESHOLD_",
        tunable: "glibc.malloc.mmap_threshold",
    },
];

/// The settings to make, given the environment: every knob the operator
/// did not set.
fn plan(env: impl Fn(&str) -> Option<String>) -> Vec<(i32, i32)> {
    let tunables = env("GLIBC_TUNABLES").unwrap_or_default();
    KNOBS
        .iter()
        .filter(|k| env(k.env).is_none() && !tunables.contains(k.tunable))
        .map(|k| (k.param, k.value))
        .collect()
}

/// Apply the settings; call before any thread starts. Returns how many
/// glibc accepted (it is advice about memory, never about contents, so a
/// refusal only costs memory).
pub fn keep_heap_compact() -> usize {
    plan(|k| std::env::var(k).ok())
        .into_iter()
        .filter(|&(param, value)| {
            // SAFETY: mallopt takes two integers and changes only how the
            // allocator chooses where future allocations go; it is called
            // at start-up, before other threads exist, and every value is
            // one glibc documents for its parameter.
            unsafe { libc::mallopt(param, value) == 1 }
        })
        .count()
}

/// Return the free pages of the allocator's heap to the system: after a
/// batch far larger than usual (the first, every-socket one) the heap's
/// top may hold megabytes nothing uses any more.
pub fn give_back_freed() {
    // SAFETY: malloc_trim takes no pointer and works only on the
    // allocator's own free lists, under its own locks; memory in use is
    // not touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn both_knobs_are_set_when_the_operator_set_neither() {
        assert_eq!(
            plan(env_of(&[])),
            [(libc::M_ARENA_MAX, 1), (libc::M_MMAP_THRESHOLD, 4 << 20)]
        );
    }

    #[test]
    fn the_operators_setting_wins_by_variable_or_tunable() {
        assert_eq!(
            plan(env_of(&[("MALLOC_ARENA_MAX", "4")])),
            [(libc::M_MMAP_THRESHOLD, 4 << 20)]
        );
        assert_eq!(
            plan(env_of(&[(
                "GLIBC_TUNABLES",
                "glibc.malloc.mmap_threshold=65536"
            )])),
            [(libc::M_ARENA_MAX, 1)]
        );
        assert!(
            plan(env_of(&[
                ("MALLOC_MMAP_THRESHOLD_", "131072"),
                ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
            ]))
            .is_empty()
        );
    }

    #[test]
    fn glibc_accepts_every_setting() {
        // Applying them in a test process changes nothing a test sees.
        let wanted = plan(|k| std::env::var(k).ok()).len();
        assert_eq!(keep_heap_compact(), wanted);
    }
}
