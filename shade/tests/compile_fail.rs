//! Compile-fail tests: misuse of the API that the type system must reject.
//! Each `tests/compile_fail/*.rs` must fail to build with the error in the
//! `.stderr` file next to it (regenerate with `TRYBUILD=overwrite` and
//! review the diff). `tests/compile_pass/*.rs` must build and run.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
    t.pass("tests/compile_pass/*.rs");
}
