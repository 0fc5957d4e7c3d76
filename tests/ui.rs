//! Compile-time behaviour: every error the macro reports (tests/ui/fail, with
//! the expected messages in .stderr files) and every accepted form
//! (tests/ui/pass). Regenerate the .stderr files with
//! `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
