//! The byte offsets the sock_diag parser uses, checked against the kernel's
//! own UAPI headers (`linux-libc-dev`): the parser exports every layout
//! number it relies on with the C expression that names it, a C program
//! compiled here prints each expression, and every value must match.
#![cfg(target_os = "linux")]

use crate::support::c_program;

use netpulse::platform::linux::sock_diag::C_LAYOUT;

#[test]
fn parser_offsets_match_the_kernel_uapi_headers() {
    assert!(!C_LAYOUT.is_empty());
    let mut body = String::new();
    for (expr, _) in C_LAYOUT {
        body.push_str(&format!("  printf(\"%zu\\n\", (size_t)({expr}));\n"));
    }
    let out = c_program::compile_and_run("", &body);
    let text = String::from_utf8(out).unwrap();
    let got: Vec<usize> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), C_LAYOUT.len());
    for ((expr, ours), theirs) in C_LAYOUT.iter().zip(got) {
        assert_eq!(
            *ours, theirs,
            "{expr}: parser uses {ours}, header says {theirs}"
        );
    }
}
