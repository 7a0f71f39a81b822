//! Compile and run a small C program against the kernel UAPI headers
//! (`gcc`, `linux-libc-dev`: .ci/setup.d/10-linux.sh).

use std::process::Command;

/// Headers every program gets.
const PRELUDE: &str = "#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n\
#include <sys/socket.h>\n#include <netinet/in.h>\n#include <linux/netlink.h>\n\
#include <linux/tcp.h>\n#include <linux/inet_diag.h>\n#include <linux/sock_diag.h>\n";

/// Wrap `body` in `main` after `defs` (helpers), compile it, run it, and
/// return its standard output.
pub fn compile_and_run(defs: &str, body: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prog.c");
    let bin = dir.path().join("prog");
    let c = format!("{PRELUDE}{defs}\nint main(void) {{\n{body}  return 0;\n}}\n");
    std::fs::write(&src, &c).unwrap();
    let cc = Command::new("cc")
        .args(["-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("running cc (install gcc and linux-libc-dev: .ci/setup.d/10-linux.sh)");
    assert!(
        cc.status.success(),
        "cc failed (install linux-libc-dev): {}\n{c}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&bin).output().unwrap();
    assert!(out.status.success(), "the C program failed");
    out.stdout
}
