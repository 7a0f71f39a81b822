//! Compiles `proto/tcpstats.proto` into Rust types at build time with a
//! pure-Rust protobuf compiler (protox), so building netpulse needs no
//! `protoc` and the generated code can never drift from the schema.

fn main() {
    println!("cargo:rerun-if-changed=proto/tcpstats.proto");
    let files = match protox::compile(["tcpstats.proto"], ["proto"]) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("proto/tcpstats.proto does not compile: {e:?}");
            std::process::exit(1);
        }
    };
    if let Err(e) = prost_build::Config::new().compile_fds(files) {
        eprintln!("generating Rust code from proto/tcpstats.proto failed: {e}");
        std::process::exit(1);
    }
}
