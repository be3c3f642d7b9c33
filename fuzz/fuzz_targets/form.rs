//! Form bodies: any bytes parse or are refused; a parsed form's lookups never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tollgate::form::Form;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = Form::parse(data) {
        let _ = form.get("grant_type");
        let _ = form.contains("scope");
    }
});
