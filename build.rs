//! Build script: turns the test opt-outs (`FINESSE_SSO_SKIP_{WINDOW,ROOT,NODE,WINDOWS_SECURITY}_TESTS`) into cfgs,
//! so the tests they cover are compiled as `#[ignore]` and reported as ignored, never as passed.

/// (environment variable, cfg it sets when non-empty and not "0").
/// `WINDOWS_SECURITY`: tests that need Windows' own ACLs and pipe rules (Wine keeps no DACL and
/// does not enforce `FILE_FLAG_FIRST_PIPE_INSTANCE`); `.ci/wine-test` sets it.
const OPT_OUTS: [(&str, &str); 4] = [
    ("FINESSE_SSO_SKIP_WINDOW_TESTS", "skip_window_tests"),
    ("FINESSE_SSO_SKIP_ROOT_TESTS", "skip_root_tests"),
    ("FINESSE_SSO_SKIP_NODE_TESTS", "skip_node_tests"),
    (
        "FINESSE_SSO_SKIP_WINDOWS_SECURITY_TESTS",
        "skip_windows_security_tests",
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for (var, cfg) in OPT_OUTS {
        println!("cargo:rerun-if-env-changed={var}");
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        if std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0") {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
