//! `include/dfshm_adbc.h` is what cbindgen generates from the source: a changed export cannot
//! ship with a stale header. `DFSHM_BLESS=1` rewrites the header instead of failing.

mod common;

#[test]
fn the_header_matches_the_source() {
    let root = common::crate_dir();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses src/lib.rs")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    for symbol in [
        "AdbcDfshmFfiInit",
        "AdbcDriverInit",
        "struct AdbcError *error",
    ] {
        assert!(
            generated.contains(symbol),
            "{symbol} missing from:\n{generated}"
        );
    }
    let path = root.join("include/dfshm_adbc.h");
    if std::env::var_os("DFSHM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; run `DFSHM_BLESS=1 cargo test --release -p dfshm-ffi --test header` \
         and commit it. Generated:\n{generated}",
        path.display()
    );
}
