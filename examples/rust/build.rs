//! Finds the installed C library with `pkg-config --libs pylstm` (honouring
//! PKG_CONFIG_PATH) and tells cargo to link it. On Unix the library directory
//! is also recorded as the run-time search path, so the programs start
//! without LD_LIBRARY_PATH.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = Command::new(&pkg_config)
        .args(["--libs", "pylstm"])
        .output()
        .unwrap_or_else(|e| panic!("could not run {pkg_config}: {e}"));
    if !output.status.success() {
        panic!(
            "{pkg_config} --libs pylstm failed: {}\ninstall the C library (cmake --install) and \
             point PKG_CONFIG_PATH at its lib/pkgconfig directory",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let unix = env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("unix");
    let libs = String::from_utf8(output.stdout).expect("pkg-config printed non-UTF-8");
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
            if unix {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            }
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        }
    }
}
