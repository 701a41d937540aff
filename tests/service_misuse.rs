//! `#[tower_ipc::service]` refuses what it cannot serve, saying what to
//! write instead: compile-fail cases in `tests/ui/service/`, each beside
//! the compiler's message it must produce (`TRYBUILD=overwrite` rewrites
//! them after a deliberate change).
//!
//! Not under Wine: trybuild runs cargo, a Linux program.
#![cfg(all(feature = "macros", feature = "postcard", not(windows)))]

#[test]
fn misuse_of_the_service_attribute_is_refused_with_what_to_fix() {
    trybuild::TestCases::new().compile_fail("tests/ui/service/*.rs");
}
