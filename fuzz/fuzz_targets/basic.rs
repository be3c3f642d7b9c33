//! `Authorization: Basic` values: any bytes parse or are refused, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tollgate::oauth::parse_basic;

fuzz_target!(|data: &[u8]| {
    let _ = parse_basic(data);
});
